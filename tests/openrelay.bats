#!/usr/bin/env bats
# Open relay: a client outside mynetworks, without AUTH, finds no address
# form that makes posthorn relay (source routes, % and ! hacks, quoted local
# parts, literals, trailing dots, case), whatever sender it gives.

load lib

setup() {
	ph_setup
	ph_conf mynetworks 192.0.2.0/24
	ph_conf smtpd_error_limit 1000
}

teardown() {
	ph_teardown
}

@test "open relay matrix: no recipient form relays for an outside client" {
	ph_start
	run python3 - "$PH_PORT" <<'PY'
import smtplib, sys
port = int(sys.argv[1])
senders = ["s@example.org", "alice@localhost", "", "postmaster@localhost"]
rcpts = [
    "victim@example.com",
    "victim@EXAMPLE.COM",
    "victim@example.com.",
    "@localhost:victim@example.com",
    "@localhost,@example.net:victim@example.com",
    "victim%example.com@localhost",
    "victim%example.com",
    "example.com!victim@localhost",
    "example.com!victim",
    '"victim@example.com"@localhost',
    '"victim@example.com"',
    "victim@example.com@localhost",
    "victim@[192.0.2.1]",
    "victim@[127.0.0.1]",
    "victim@localhost.example.com",
    "victim@sub.localhost",
    "alice@localhost@example.com",
]
bad = []
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.ehlo("outside.example")
    for snd in senders:
        for r in rcpts:
            s.rset()
            code, msg = s.docmd("MAIL FROM:<%s>" % snd)
            if code != 250:
                bad.append(("MAIL", snd, code, msg)); continue
            code, msg = s.docmd("RCPT TO:<%s>" % r)
            print(snd, r, code, msg.decode())
            if code < 500:
                bad.append((snd, r, code, msg))
    # The control: local mail from outside is taken.
    s.rset()
    s.docmd("MAIL FROM:<s@example.org>")
    code, msg = s.docmd("RCPT TO:<alice@localhost>")
    assert code == 250, (code, msg)
    s.rset()
if bad:
    sys.exit("accepted or deferred: %r" % bad)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Relay access denied"* ]]
	# Nothing was queued for another domain (only smtpd's reject lines
	# name such a recipient).
	if grep -v ": reject: RCPT from " "$PH_LOG" |
	    grep -q "to=<[^>]*example\.\(com\|net\)"; then false; fi
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "the relay decision holds across RSET, a new EHLO and pipelined commands" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO outside.example\r\n
expect 250
send MAIL FROM:<s@example.org>\r\nRCPT TO:<alice@localhost>\r\nRSET\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<victim@example.com>\r\n
expect 250
expect 250
expect 250
expect 250
expect 554 5.7.1
send EHLO localhost\r\n
expect 250
send MAIL FROM:<alice@localhost>\r\n
expect 250
send RCPT TO:<victim@example.com>\r\n
expect 554 5.7.1
send QUIT\r\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
}
