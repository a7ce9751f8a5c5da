#!/usr/bin/env bats
# ESMTP extensions: CHUNKING/BINARYMIME, SMTPUTF8, DSN, 8BITMIME,
# ENHANCEDSTATUSCODES; header checks: loops, long lines, added headers.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

body_of() {	# the body of USER's newest message
	awk 'p{print} /^\r?$/{p=1}' "$(ph_mail_file "$1")"
}

@test "EHLO lists the extensions that are honoured" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	for k in PIPELINING "SIZE 10240000" 8BITMIME CHUNKING BINARYMIME \
	    SMTPUTF8 DSN ENHANCEDSTATUSCODES; do
		echo "$output" | grep -Eq "^250[- ]$k\$"
	done
}

@test "CHUNKING: BDAT chunks with exact counts, no dot-unstuffing, one message" {
	ph_start
	run python3 - "$PH_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
def reply():
    while True:
        l = f.readline().decode()
        print(l.rstrip())
        if l[3] != "-":
            return l
reply()
s.sendall(b"EHLO x\r\nMAIL FROM:<c@example.org>\r\nRCPT TO:<alice@localhost>\r\n")
reply(); reply(); reply()
c1 = b"Subject: chunks\r\n\r\n.leading dot stays\r\n"
c2 = b"..two dots stay\r\n.\r\nnot the end\r\n"
# Pipelined: both chunks in one write.
s.sendall(b"BDAT %d\r\n" % len(c1) + c1 + b"BDAT %d LAST\r\n" % len(c2) + c2)
a = reply(); b = reply()
assert a.startswith("250 2.0.0 Ok: %d octets" % len(c1)), a
assert b.startswith("250 2.0.0 Ok: queued as"), b
s.sendall(b"QUIT\r\n"); reply()
PY
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	[ "$(body_of alice)" = $'.leading dot stays\n..two dots stay\n.\nnot the end' ]
}

@test "BDAT refused before MAIL still consumes its octets; DATA inside BDAT is 503" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send BDAT 12\r\nRSET\r\nQUIT\r\n
expect 503 5.5.1
send MAIL FROM:<a@example.org>\r\n
expect 250
send BDAT 5\r\nabcde
expect 554 5.5.1
send RCPT TO:<alice@localhost>\r\n
expect 250
send BDAT 4\r\nab\r\n
expect 250 2.0.0
send DATA\r\n
expect 503 5.5.1
send BDAT 0 LAST\r\n
expect 250 2.0.0 Ok: queued
send BDAT x\r\n
expect 501 5.5.4
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
}

@test "BINARYMIME: NUL and bare CR survive byte for byte; DATA is refused" {
	ph_start
	run python3 - "$PH_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
def reply():
    while True:
        l = f.readline().decode()
        if l[3] != "-":
            return l
reply()
s.sendall(b"EHLO x\r\n"); reply()
s.sendall(b"MAIL FROM:<b@example.org> BODY=BINARYMIME\r\n"); assert reply().startswith("250")
s.sendall(b"RCPT TO:<bob@localhost>\r\n"); assert reply().startswith("250")
s.sendall(b"DATA\r\n"); r = reply(); assert r.startswith("503 5.5.1"), r
body = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) + b"\r\n"
s.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
r = reply(); assert r.startswith("250 2.0.0 Ok: queued"), r
PY
	[ "$status" -eq 0 ]
	ph_wait_mail bob 1
	f=$(ph_mail_file bob)
	python3 - "$f" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
assert data.startswith(b"Return-Path: <b@example.org>\r\nDelivered-To: bob@localhost\r\n"), data[:80]
assert bytes(range(256)) + b"\r\n" in data
assert b"with ESMTP id" in data
PY
}

@test "SMTPUTF8: UTF-8 addresses need the parameter; bad UTF-8 is 501" {
	printf 'j\xc3\xb6rg: alice\n' >> "$PH_CONF/aliases"
	ph_start
	run python3 - "$PH_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
def cmd(b):
    if b: s.sendall(b)
    while True:
        l = f.readline()
        if l[3:4] != b"-":
            return l.decode("utf-8", "replace").strip()
print(cmd(None))
print(cmd(b"EHLO x\r\n"))
print(cmd("MAIL FROM:<s\u00e9nder@example.org>\r\n".encode()))
print(cmd(b"MAIL FROM:<s\xffnder@example.org> SMTPUTF8\r\n"))
print(cmd("MAIL FROM:<s\u00e9nder@example.org> SMTPUTF8\r\n".encode()))
print(cmd("RCPT TO:<j\u00f6rg@localhost>\r\n".encode()))
print(cmd(b"DATA\r\n"))
print(cmd("Subject: utf8\r\n\r\nGr\u00fc\u00dfe\r\n.\r\n".encode()))
print(cmd(b"QUIT\r\n"))
PY
	[ "$status" -eq 0 ]
	[[ "${lines[2]}" == "553 5.6.7"* ]]
	[[ "${lines[3]}" == "501 5.1.7"*"invalid UTF-8"* ]]
	[[ "${lines[4]}" == "250 2.1.0"* ]]
	[[ "${lines[5]}" == "250 2.1.5"* ]]
	[[ "${lines[7]}" == "250 2.0.0"* ]]
	ph_wait_mail alice 1
	grep -q 'with UTF8SMTP id' "$(ph_mail_file alice)"
	grep -q 'Return-Path: <sénder@example.org>' "$(ph_mail_file alice)"
}

@test "SMTPUTF8 off: not advertised, parameter refused" {
	ph_conf smtputf8_enable no
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org> SMTPUTF8\r\n
expect 555
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	if echo "$output" | grep -Eq '^250[- ]SMTPUTF8$'; then false; fi
}

@test "DSN parameters are validated" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org> RET=SOME\r\n
expect 501 5.5.4
send MAIL FROM:<a@example.org> ENVID=bad=xtext\r\n
expect 501 5.5.4
send MAIL FROM:<a@example.org> RET=HDRS RET=FULL\r\n
expect 501 5.5.4
send MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ+2B1\r\n
expect 250
send RCPT TO:<alice@localhost> NOTIFY=NEVER,FAILURE\r\n
expect 501 5.5.4
send RCPT TO:<alice@localhost> NOTIFY=SOMETIMES\r\n
expect 501 5.5.4
send RCPT TO:<alice@localhost> ORCPT=x400;abc\r\n
expect 501 5.5.4
send RCPT TO:<alice@localhost> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+2Bx@localhost\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "DSN: NOTIFY=NEVER means no bounce; RET=HDRS, ENVID and ORCPT shape the bounce" {
	echo "broken: |/bin/false" >> "$PH_CONF/aliases"
	echo "broken2: |/bin/false" >> "$PH_CONF/aliases"
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<bob@localhost> RET=HDRS ENVID=env-42\r\n
expect 250
send RCPT TO:<broken@localhost> NOTIFY=NEVER\r\n
expect 250
send RCPT TO:<broken2@localhost> NOTIFY=FAILURE ORCPT=rfc822;original@example.org\r\n
expect 250
send DATA\r\n
expect 354
send Subject: dsn\r\n\r\nSECRET BODY TEXT\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail bob 1
	f=$(ph_mail_file bob)
	grep -q 'Original-Envelope-Id: env-42' "$f"
	grep -q '<broken2@localhost>: 5.3.0' "$f"
	grep -q 'Original-Recipient: rfc822;original@example.org' "$f"
	if grep -q '<broken@localhost>:' "$f"; then false; fi
	grep -q '^Subject: dsn' "$f"
	if grep -q 'SECRET BODY TEXT' "$f"; then false; fi
	grep -q "to=<broken@localhost>: no bounce (NOTIFY=NEVER)" "$PH_LOG"
	sleep 0.3
	[ "$(ph_count_mail bob)" -eq 1 ]
}

@test "8BITMIME: an 8-bit body declared with BODY=8BITMIME is delivered intact" {
	ph_start
	run python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.ehlo()
    assert s.has_extn("8bitmime")
    s.sendmail("e@example.org", ["alice@localhost"],
               "Subject: 8bit\r\n\r\n\u00e9t\u00e9 \u00e0 Paris\r\n".encode(),
               mail_options=["BODY=8BITMIME"])
PY
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	[ "$(body_of alice)" = "été à Paris" ]
}

@test "ENHANCEDSTATUSCODES: every reply after EHLO carries a status code" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send NOOP\r\n
read
send VRFY x\r\n
read
send HELP\r\n
read
send FOO\r\n
read
send MAIL FROM:<bad\r\n
read
send MAIL FROM:<a@example.org>\r\n
read
send RCPT TO:<nobody@localhost>\r\n
read
send RCPT TO:<alice@localhost>\r\n
read
send RSET\r\n
read
send BDAT 1\r\nx
read
send QUIT\r\n
read
EOF2
	# Skip the greeting and the EHLO block; check all the rest.
	rest=$(echo "$output" | sed -n '/^250 ENHANCEDSTATUSCODES$/,$p' | sed 1d)
	[ "$(echo "$rest" | wc -l)" -ge 30 ]
	bad=$(echo "$rest" | grep -Ev '^[245][0-9][0-9][ -][245]\.[0-9]{1,3}\.[0-9]{1,3} ' || true)
	[ -z "$bad" ]
}

@test "mail loops: too many Received: headers give 554 5.4.6" {
	ph_conf hopcount_limit 5
	ph_start
	{
		echo 'expect 220'; echo 'send EHLO x\r\n'; echo 'expect 250'
		echo 'send MAIL FROM:<l@example.org>\r\n'; echo 'expect 250'
		echo 'send RCPT TO:<alice@localhost>\r\n'; echo 'expect 250'
		echo 'send DATA\r\n'; echo 'expect 354'
		for i in 1 2 3 4 5; do
			echo "send Received: from hop$i by hop$i; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
		done
		echo 'send Subject: loop\r\n\r\nReceived: in the body does not count\r\n.\r\n'
		echo 'expect 554 5.4.6'
		echo 'send MAIL FROM:<l@example.org>\r\n'; echo 'expect 250'
		echo 'send RCPT TO:<alice@localhost>\r\n'; echo 'expect 250'
		echo 'send DATA\r\n'; echo 'expect 354'
		for i in 1 2 3 4; do
			echo "send received: from hop$i\r\n"
		done
		echo 'send Subject: ok\r\n\r\nReceived: body\r\nReceived: body\r\n.\r\n'
		echo 'expect 250'
		echo 'send QUIT\r\n'; echo 'expect 221'
	} > "$PH_DIR/script"
	run ph_smtp < "$PH_DIR/script"
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
}

@test "a text line over smtpd_text_line_limit is refused; at the limit it passes" {
	ph_start
	l998=$(printf 'y%.0s' $(seq 1 998))
	l999=$(printf 'z%.0s' $(seq 1 999))
	run ph_smtp <<EOF2
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: long\r\n\r\n$l999\r\n.\r\n
expect 554 5.6.0
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: long\r\n\r\n$l998\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"longer than 1000 octets"* ]]
	ph_wait_mail alice 1
}

@test "submission adds Date: and Message-ID: when missing, port 25 does not" {
	ph_start
	pw=$(ph_password)
	for p in "$PH_PORT" "$PH_SUBMISSION"; do
		login=""
		[ "$p" = "$PH_SUBMISSION" ] && login="send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
auth alice $pw"
		ph_smtp "$p" <<EOF2 >/dev/null
expect 220
send EHLO x\\r\\n
expect 250
$login
send MAIL FROM:<a@example.org>\\r\\n
expect 250
send RCPT TO:<alice@localhost>\\r\\n
expect 250
send DATA\\r\\n
expect 354
send Subject: bare\\r\\n\\r\\nno date, no id\\r\\n.\\r\\n
expect 250
send QUIT\\r\\n
EOF2
	done
	ph_wait_mail alice 2
	n_date=$(cat "$PH_MAIL"/alice/Maildir/new/* | grep -c '^Date: ')
	n_id=$(cat "$PH_MAIL"/alice/Maildir/new/* | grep -c '^Message-ID: <[0-9]*\.[0-9A-F]*@')
	[ "$n_date" -eq 1 ] && [ "$n_id" -eq 1 ]
	# Added inside the header section, before the empty line.
	f=$(grep -l '^Message-ID:' "$PH_MAIL"/alice/Maildir/new/*)
	awk '/^$/{exit} /^Message-ID:/{found=1} END{exit !found}' "$f"
}

@test "DSN: NOTIFY=SUCCESS gets a delivery report; NOTIFY=DELAY one delay notice" {
	ph_conf minimal_backoff_time 1s
	ph_conf queue_run_delay 1s
	ph_start
	mkdir -p "$PH_MAIL/alice"
	chmod 000 "$PH_MAIL/alice"
	[ "$(id -u)" -ne 0 ] || chown root:root "$PH_MAIL/alice"
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<bob@localhost> ENVID=QQ+2B1\r\n
expect 250
send RCPT TO:<bob@localhost> NOTIFY=SUCCESS\r\n
expect 250
send RCPT TO:<alice@localhost> NOTIFY=DELAY,FAILURE\r\n
expect 250
send DATA\r\n
expect 354
send Subject: notices\r\n\r\nbody\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	# bob: the message itself, a success report, and one delay notice.
	ph_wait_mail bob 3 15
	sleep 2.5
	[ "$(ph_count_mail bob)" -eq 3 ]
	cat "$PH_MAIL"/bob/Maildir/new/* > "$PH_DIR/all"
	grep -q '^Subject: Successful Mail Delivery Report' "$PH_DIR/all"
	grep -q '^Subject: Delayed Mail (still being retried)' "$PH_DIR/all"
	grep -q 'Original-Envelope-Id: QQ+1$' "$PH_DIR/all"
	[ "$(grep -c '^Subject: Delayed Mail' "$PH_DIR/all")" -eq 1 ]
	chmod 755 "$PH_MAIL/alice"
	[ "$(id -u)" -ne 0 ] || chown posthorn-vmail: "$PH_MAIL/alice"
}

@test "BDAT rules: no RCPT once chunks started, BDAT needs EHLO, trailing blanks are fine" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send HELO x\r\n
expect 250
send BDAT 3\r\nabc
expect 503 5.5.1
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send BDAT 4\r\nab\r\n
expect 250
send RCPT TO:<bob@localhost>\r\n
expect 503 5.5.1
send BDAT 2 LAST  \r\ncd
expect 250 2.0.0 Ok: queued
send EHLO bad\rname\r\n
expect 501 5.5.4
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	[ "$(ph_count_mail bob)" -eq 0 ]
}

@test "added headers never make a queue record too big to deliver" {
	ph_start
	python3 - "$PH_SUBMISSION" "$(ph_password)" <<'PY'
import smtplib, sys
# Headers that fill the first 64 KiB record almost exactly, no Message-ID,
# so the added Date:/Message-ID: straddle the record boundary.
for fill in range(65380, 65540, 40):
    hdr = "X-Fill: " + "f" * 900 + "\r\n"
    n = fill // len(hdr)
    msg = hdr * n + "X-Pad: " + "p" * (fill - n * len(hdr)) + "\r\n\r\nend of message\r\n"
    with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
        s.starttls()
        s.login("alice", sys.argv[2])
        s.sendmail("s@example.org", ["alice@localhost"], msg)
PY
	ph_wait_mail alice 4 20
	[ "$(cat "$PH_MAIL"/alice/Maildir/new/* | grep -c '^end of message$')" -eq 4 ]
	[ "$(cat "$PH_MAIL"/alice/Maildir/new/* | grep -c '^Message-ID: ')" -eq 4 ]
}
