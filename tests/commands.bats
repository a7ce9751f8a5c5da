#!/usr/bin/env bats
# The informational and legacy verbs: HELP, VRFY, EXPN, and the old
# Sendmail/Exchange/RFC 821 commands, each with its deliberate answer.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

@test "HELP lists every command; HELP <verb> gives its syntax; unknown topic 504" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send HELP\r\n
expect 214
send help mail\r\n
expect 214
send HELP FROBNICATE\r\n
expect 504 5.5.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	for v in HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY EXPN HELP \
	    VERB ONEX XUSR TICK SEND SOML SAML TURN QUEU XEXCH50 ETRN ATRN \
	    AUTH STARTTLS BDAT; do
		echo "$output" | grep -q "^214-2.0.0   $v "
	done
	[[ "$output" == *"214 2.0.0 Syntax: MAIL FROM:<address>"* ]]
}

@test "VRFY: 252 by default, never confirming or denying" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send VRFY alice\r\n
expect 252 2.5.2
send VRFY nosuchuser\r\n
expect 252 2.5.2
send VRFY\r\n
expect 501
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "VRFY enabled: answers from the recipient tables" {
	ph_conf smtpd_enable_vrfy yes
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send VRFY alice\r\n
expect 250 2.1.5
send VRFY <bob@localhost>\r\n
expect 250 2.1.5
send VRFY postmaster\r\n
expect 250 2.1.5
send VRFY nosuchuser@localhost\r\n
expect 550 5.1.1
send VRFY someone@example.com\r\n
expect 252
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"250 2.1.5 <bob@localhost>"* ]]
}

@test "EXPN: 502 by default; enabled, it expands aliases" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EXPN postmaster\r\n
expect 502 5.5.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_stop
	echo "staff: alice, bob@localhost" >> "$PH_CONF/aliases"
	ph_conf smtpd_enable_expn yes
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EXPN staff\r\n
expect 250
send EXPN alice\r\n
expect 250 2.1.5
send EXPN nobody\r\n
expect 550 5.1.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"250-2.1.5 <alice@localhost>"*"250 2.1.5 <bob@localhost>"* ]]
}

@test "VRFY inside a transaction does not disturb it" {
	ph_conf smtpd_enable_vrfy yes
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send VRFY bob\r\n
expect 250 2.1.5
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: v\r\n\r\nvrfy mid-transaction\r\n.\r\n
expect 250 2.0.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
}

@test "Sendmail verbs VERB, ONEX, XUSR, TICK: accepted no-ops" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send VERB\r\n
expect 250 2.0.0
send ONEX\r\n
expect 250 2.0.0
send XUSR\r\n
expect 250 2.0.0
send TICK 1\r\n
expect 250 2.0.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "SEND, SOML, SAML, TURN, QUEU, XEXCH50: 502 with a reason" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send SEND FROM:<a@example.org>\r\n
expect 502 5.5.1
send SOML FROM:<a@example.org>\r\n
expect 502 5.5.1
send SAML FROM:<a@example.org>\r\n
expect 502 5.5.1
send TURN\r\n
expect 502 5.5.1
send QUEU\r\n
expect 502 5.5.1
send XEXCH50 10 2\r\n
expect 502 5.5.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"SEND (delivery to a terminal) is obsolete"* ]]
	[[ "$output" == *"TURN is not offered: role reversal without authentication is unsafe"* ]]
	[[ "$output" == *"XEXCH50 is not offered"* ]]
}

@test "ATRN on the SMTP port: 502, pointing to the ODMR service" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send ATRN\r\n
expect 502 5.5.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"502 5.5.1 Error: ATRN is offered on the ODMR service only (RFC 2645)"* ]]
}

@test "a client that pipelines a whole session and half-closes gets every reply, and its mail" {
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@localhost>\r\n"
          b"DATA\r\nSubject: half-closed\r\n\r\nbody\r\n.\r\nQUIT\r\n")
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
lines = [l for l in out.split(b"\r\n") if l and l[3:4] != b"-"]
codes = [l[:3] for l in lines]
assert codes == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"], lines
PY
	ph_wait_mail alice 1
	grep -q "^Subject: half-closed" "$(ph_mail_file alice)"
}

@test "half-closed in the middle of DATA: replies up to there, nothing queued" {
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@localhost>\r\n"
          b"DATA\r\nSubject: cut\r\n\r\nbody without an end\r\n")
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
lines = [l for l in out.split(b"\r\n") if l and l[3:4] != b"-"]
assert [l[:3] for l in lines] == [b"220", b"250", b"250", b"250", b"354"], lines
PY
	for i in $(seq 1 40); do grep -q "lost connection after DATA" "$PH_LOG" && break; sleep 0.05; done
	grep -q "lost connection after DATA" "$PH_LOG"
	sleep 0.3
	[ "$(ph_queue_files)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 0 ]
}
