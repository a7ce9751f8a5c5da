#!/usr/bin/env bats
# Mail filters (smtpd_milters): a test filter on the real libmilter
# (tests/milter_test.py, Debian's pymilter), and OpenDKIM signing.

load lib

setup() {
	ph_setup
	M_PID=
	DK_PID=
}

teardown() {
	[ -z "$M_PID" ] || kill "$M_PID" 2>/dev/null || true
	[ -z "$DK_PID" ] || kill "$DK_PID" 2>/dev/null || true
	ph_teardown
}

# start_milter: the test filter on a free port (M_PORT), logging to M_LOG.
start_milter() {
	M_PORT=$(ph_free_ports 1)
	M_LOG=$PH_DIR/milter.log
	/usr/bin/python3 "$PH_SRC/tests/milter_test.py" "$M_PORT" "$M_LOG" \
	    > "$PH_DIR/milter.out" 2>&1 &
	M_PID=$!
	ph_wait_listen "$M_PORT" || { cat "$PH_DIR/milter.out" >&2; return 1; }
}

# smtp_script: a whole session in Python; prints one line per step.
smtp_script() {
	/usr/bin/python3 - "$PH_PORT" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("client.example")
def send(name, sender, rcpts, headers="", body="body text\r\n"):
    msg = "Subject: %s\r\n%s\r\n%s" % (name, headers, body)
    try:
        refused = s.sendmail(sender, rcpts, msg)
        print(name, "accepted", sorted(refused))
    except smtplib.SMTPSenderRefused as e:
        print(name, "sender", e.smtp_code, e.smtp_error.decode())
    except smtplib.SMTPRecipientsRefused as e:
        print(name, "recipients", sorted(e.recipients))
    except smtplib.SMTPDataError as e:
        print(name, "data", e.smtp_code, e.smtp_error.decode())
    s.rset()
send("plain", "me@example.org", ["alice@localhost"], "X-Test: none\r\n",
     "hello body\r\n.dot line\r\n")
send("badsender", "reject@example.org", ["alice@localhost"])
send("onerefused", "me@example.org", ["bob+refused@localhost", "bob@localhost"])
send("reject", "me@example.org", ["alice@localhost"], "X-Test: reject\r\n")
send("tempfail", "me@example.org", ["alice@localhost"], "X-Test: tempfail\r\n")
send("discard", "me@example.org", ["alice@localhost"], "X-Test: discard\r\n")
# Refused at a header, with more content after it: the filter says no
# more about that message, and the next one is not confused.
send("hdrreject", "me@example.org", ["alice@localhost"],
     "X-Test: header-reject\r\nX-After: 1\r\n", "body\r\n" * 5000)
send("after", "me@example.org", ["alice@localhost"], "X-Test: none\r\n",
     "after the header refusal\r\n")
send("multiline", "me@example.org", ["alice@localhost"], "X-Test: multiline\r\n")
send("inject", "me@example.org", ["alice@localhost"], "X-Test: inject\r\n")
print("noop", s.noop()[0])
# A transaction given up with RSET: the filter hears ABORT.
s.mail("me@example.org"); s.rcpt("alice@localhost"); s.rset()
s.quit()
PY
}

@test "milter: the filter sees every step, and its refusals are the answers at MAIL, RCPT and the end of the message" {
	start_milter
	ph_conf smtpd_milters "inet:127.0.0.1:$M_PORT"
	ph_start
	run smtp_script
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"plain accepted []"* ]]
	[[ "$output" == *"badsender sender 550 5.7.1 sender refused by the test filter"* ]]
	[[ "$output" == *"onerefused accepted ['bob+refused@localhost']"* ]]
	[[ "$output" == *"reject data 554 5.7.1 content refused by the test filter"* ]]
	[[ "$output" == *"tempfail data 451 4.7.1 Service unavailable - try again later"* ]]
	[[ "$output" == *"discard accepted []"* ]]
	[[ "$output" == *"hdrreject data 550 5.7.1 header refused by the test filter"* ]]
	[[ "$output" == *"after accepted []"* ]]
	# A two-line reply arrives as two lines, and the session stays in step.
	[[ "$output" == *"multiline data 550 5.7.1 first line"$'\n'"5.7.1 second line"* ]]
	# A filter's header value may not start a new header line.
	[[ "$output" == *"inject data 451 4.3.0 Error: a filter's changes could not be made"* ]]
	grep -q "a header value with a line break that is no folding" "$PH_LOG"
	[[ "$output" == *"noop 250"* ]]
	ph_wait_mail alice 2
	ph_wait_mail bob 1
	sleep 0.5
	# Only "plain" and "after" reached alice; "onerefused" bob alone.
	[ "$(ph_count_mail alice)" -eq 2 ]
	grep -l "hello body" "$PH_MAIL"/alice/Maildir/new/*
	grep -l "after the header refusal" "$PH_MAIL"/alice/Maildir/new/*
	[ "$(ph_count_mail bob)" -eq 1 ]
	grep -q "Subject: onerefused" "$(ph_mail_file bob)"
	if grep -q "to=<bob+refused@localhost>.*status=" "$PH_LOG"; then false; fi
	grep -q "discard: END-OF-MESSAGE from unknown\[127.0.0.1\]: discarded by a filter" "$PH_LOG"
	grep -q "reject: RCPT from unknown\[127.0.0.1\]: 550 5.7.1 recipient refused by the test filter" "$PH_LOG"
	[ "$(ph_queue_files)" -eq 0 ]
	# What the filter saw: the client, HELO, the envelope with the queue
	# ID, each header (ours first, folded lines kept), the body in CRLF.
	grep -q '"ev": "connect", "hostname": "\[127.0.0.1\]", "addr": "127.0.0.1", "daemon": "smtp"' "$M_LOG"
	grep -q '"ev": "helo", "helo": "client.example"' "$M_LOG"
	grep -q '"ev": "mail", "sender": "<me@example.org>", "params": \[\], "queue_id": "[0-9A-F]\{16\}"' "$M_LOG"
	grep -q '"ev": "header", "name": "Received", "value": "from client.example (unknown \[127.0.0.1\])\\r\\n\\tby ' "$M_LOG"
	grep -q '"ev": "header", "name": "X-Test", "value": "none"' "$M_LOG"
	# A recipient it refused does not take the message out of its view.
	grep -q '"ev": "header", "name": "Subject", "value": "onerefused"' "$M_LOG"
	grep -q '"ev": "eom", "body": "hello body\\r\\n.dot line\\r\\n", "test": "none"' "$M_LOG"
	# The transaction given up with RSET was ended with ABORT.
	grep -q '"ev": "abort"' "$M_LOG"
}

@test "milter: changes at the end of the message (headers, sender, recipients, body) and quarantine" {
	start_milter
	ph_conf smtpd_milters "inet:127.0.0.1:$M_PORT"
	ph_start
	run /usr/bin/python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("me@example.org", ["alice@localhost"],
               "Subject: original\r\nX-Test: change\r\n\r\nthe old body\r\n")
    s.sendmail("me@example.org", ["alice@localhost"],
               "Subject: held\r\nX-Test: quarantine\r\n\r\nheld body\r\n")
PY
	[ "$status" -eq 0 ]
	# The filter took alice out and put bob in.
	ph_wait_mail bob 1
	f=$(ph_mail_file bob)
	cat "$f"
	[ "$(sed -n 3p "$f")" = "X-First: top" ]
	grep -qx "Return-Path: <changed@example.org>" "$f"
	grep -qx "Subject: changed by the filter" "$f"
	grep -qx "X-Filtered: yes" "$f"
	if grep -q "^X-Test:" "$f"; then false; fi
	grep -qx "a new body" "$f"
	if grep -q "the old body" "$f"; then false; fi
	grep -q "changed by a filter: 4 headers, 1 recipient, new body" "$PH_LOG"
	grep -q "from=<changed@example.org>, size=.*(queue active)" "$PH_LOG"
	# Quarantined: committed into hold/, never delivered.
	grep -q "quarantined by a filter: held by the test filter" "$PH_LOG"
	id=$(sed -n 's/.*: \([0-9A-F]*\): quarantined by a filter.*/\1/p' "$PH_LOG")
	[ -n "$id" ]
	[ -f "$PH_DIR/queue/hold/$(echo "$id" | cut -c16)/$id" ] ||
	    [ -n "$(find "$PH_DIR/queue/hold" -name "$id")" ]
	sleep 0.5
	[ "$(ph_count_mail alice)" -eq 0 ]
	[ "$(ph_count_mail bob)" -eq 1 ]
}

@test "milter: a filter that is down or silent gets its default action (tempfail for the rest of the session, or accept)" {
	port=$(ph_free_ports 1)
	ph_conf smtpd_milters "inet:127.0.0.1:$port"
	ph_start
	# Nothing listens: milter_default_action = tempfail refuses the
	# session's commands with 451.
	run /usr/bin/python3 - "$PH_PORT" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
print(s.ehlo("client.example")[0])
try:
    s.sendmail("me@example.org", ["alice@localhost"], "Subject: x\r\n\r\nx\r\n")
except smtplib.SMTPException as e:
    print("refused", e)
s.quit()
PY
	echo "$output"
	[[ "$output" == *"451"* ]]
	grep -q "milter inet:127.0.0.1:$port: connect: Connection refused; default action tempfail" "$PH_LOG"
	ph_stop
	# Per filter: default_action = accept lets mail through.
	ph_conf smtpd_milters "{ inet:127.0.0.1:$port, default_action = accept }"
	ph_start
	run /usr/bin/python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("me@example.org", ["alice@localhost"], "Subject: x\r\n\r\naccepted anyway\r\n")
PY
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	grep -q "default action accept" "$PH_LOG"
	ph_stop
	# A filter that does not answer the end of the message within
	# content_timeout: the message is refused with 451, nothing queued.
	start_milter
	ph_conf smtpd_milters "{ inet:127.0.0.1:$M_PORT, content_timeout = 2s }"
	ph_start
	run /usr/bin/python3 - "$PH_PORT" <<'PY'
import smtplib, sys, time
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    t = time.time()
    try:
        s.sendmail("me@example.org", ["alice@localhost"],
                   "Subject: x\r\nX-Test: sleep\r\n\r\nslow\r\n")
        print("accepted")
    except smtplib.SMTPDataError as e:
        print(e.smtp_code, round(time.time() - t))
    # The rest of this session is refused too (as Postfix does).
    try:
        s.sendmail("me@example.org", ["alice@localhost"], "Subject: y\r\n\r\ny\r\n")
        print("second accepted")
    except smtplib.SMTPSenderRefused as e:
        print("second", e.smtp_code)
# A new session has the filter again.
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("me@example.org", ["alice@localhost"], "Subject: z\r\n\r\nnew session\r\n")
    print("third accepted")
PY
	echo "$output"
	[[ "${lines[0]}" == "451 "[23] ]]
	[ "${lines[1]}" = "second 451" ]
	[ "${lines[2]}" = "third accepted" ]
	grep -q "timeout waiting for a reply; default action tempfail" "$PH_LOG"
	ph_wait_mail alice 2
	grep -q "new session" "$(ph_mail_file alice)"
}

@test "smtpd_milters: a malformed list or an unknown default action is a configuration error" {
	ph_conf smtpd_milters "inet:127.0.0.1"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"smtpd_milters: inet:127.0.0.1: expected inet:host:port"* ]]
	ph_conf smtpd_milters "{ unix:/x.sock, default_action = maybe }"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"default_action: expected tempfail, accept or reject"* ]]
	ph_conf smtpd_milters ""
	ph_conf milter_default_action sometimes
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"milter_default_action: expected tempfail, accept or reject"* ]]
}

# start_opendkim: Debian's OpenDKIM signing for example.org (selector
# "test") on a free port, with a fresh key in $PH_DIR/dkim.
start_opendkim() {
	DK=$PH_DIR/dkim
	mkdir -p "$DK"
	opendkim-genkey -D "$DK" -d example.org -s test
	DK_PORT=$(ph_free_ports 1)
	cat > "$DK/opendkim.conf" <<EOF2
Syslog			no
LogWhy			yes
Mode			sv
Domain			example.org
Selector		test
KeyFile			$DK/test.private
Socket			inet:$DK_PORT@127.0.0.1
PidFile			$DK/opendkim.pid
InternalHosts		127.0.0.1
Canonicalization	relaxed/simple
RequireSafeKeys		no
EOF2
	opendkim -f -x "$DK/opendkim.conf" > "$DK/opendkim.out" 2>&1 &
	DK_PID=$!
	ph_wait_listen "$DK_PORT" || { cat "$DK/opendkim.out" >&2; return 1; }
}

@test "milter: OpenDKIM signs mail from a trusted client, and the signature verifies against the published key" {
	start_opendkim
	ph_conf smtpd_milters "inet:127.0.0.1:$DK_PORT"
	ph_start
	run /usr/bin/python3 - "$PH_PORT" <<'PY'
import smtplib, sys
msg = ("From: Me <me@example.org>\r\nTo: alice@localhost\r\n"
       "Subject: signed\r\nDate: Sun, 06 Dec 2026 12:00:00 +0000\r\n"
       "Message-ID: <signed.1@example.org>\r\n\r\n"
       "A signed message.\r\n.A line with a dot.\r\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("me@example.org", ["alice@localhost"], msg)
PY
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	grep -q "^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.org;" "$f"
	# Verified with Python's dkim against the key opendkim-genkey made,
	# as a receiver would find it in DNS.
	run /usr/bin/python3 - "$f" "$DK/test.txt" <<'PY'
import re, sys, dkim
msg = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
txt = "".join(re.findall(r'"([^"]*)"', open(sys.argv[2]).read()))
def dns(name, timeout=5):
    assert name == b"test._domainkey.example.org.", name
    return txt.encode()
print("verified" if dkim.verify(msg, dnsfunc=dns) else "BAD SIGNATURE")
# A changed body must fail: the check can fail.
print("tampered-ok" if dkim.verify(msg.replace(b"A signed message.",
      b"A forged message."), dnsfunc=dns) else "tampered-fails")
PY
	echo "$output"
	[ "${lines[0]}" = verified ]
	[ "${lines[1]}" = tampered-fails ]
}
