#!/usr/bin/env bats
# smtpd's protocol: replies, sequence and syntax errors, limits, DATA
# framing and the SMTP smuggling defence, pipelining.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

@test "greeting and EHLO advertise exactly what is offered" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO client.example\r\n
expect 250
send HELO client.example\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^220\ .*\ ESMTP\ posthorn$ ]]
	[[ "$output" == *"250-PIPELINING"* ]]
	[[ "$output" == *"250-SIZE 10240000"* ]]
	[[ "$output" == *"250-8BITMIME"* ]]
	[[ "$output" == *"250 ENHANCEDSTATUSCODES"* ]]
	[[ "$output" != *"STARTTLS"* && "$output" != *"AUTH"* ]]
}

@test "bad sequence: 503 for MAIL before HELO, RCPT before MAIL, DATA before RCPT, nested MAIL" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send MAIL FROM:<a@example.org>\r\n
expect 503 5.5.1
send EHLO x\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 503 5.5.1
send DATA\r\n
expect 503 5.5.1
send MAIL FROM:<a@example.org>\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 503 5.5.1
send DATA\r\n
expect 554 5.5.1
send RSET\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 503 5.5.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "syntax errors: 501 for bad paths and missing arguments" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO\r\n
expect 501 5.5.4
send EHLO x\r\n
expect 250
send MAIL FROM:a@example.org\r\n
expect 501 5.1.7
send MAIL TO:<a@example.org>\r\n
expect 501 5.5.4
send MAIL FROM:<a@@example.org>\r\n
expect 501 5.1.7
send MAIL FROM: <a@example.org>\r\n
expect 250
send RCPT TO:<alice>\r\n
expect 501 5.1.3
send RCPT TO:<alice@-bad-.example>\r\n
expect 501 5.1.3
send RCPT TO:<@relay.example:alice@localhost>\r\n
expect 250
send RSET extra\r\n
expect 501
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "unknown verbs get 500, verbs not offered get 502, case does not matter" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send ehlo x\r\n
expect 250
send FROB\r\n
expect 500 5.5.2
send STARTTLS\r\n
expect 502 5.5.1
send AUTH PLAIN\r\n
expect 502 5.5.1
send EXPN staff\r\n
expect 502 5.5.1
send TURN\r\n
expect 502 5.5.1
send noop\r\n
expect 250
send NOOP with an argument\r\n
expect 250
send VRFY alice\r\n
expect 252 2.5.2
send HELP\r\n
expect 214
send mail from:<a@example.org>\r\n
expect 250
send rcpt to:<alice@localhost>\r\n
expect 250
send QuIt\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "ESMTP parameters: SIZE over the limit 552, unknown 555, none without EHLO" {
	ph_conf message_size_limit 2048
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send HELO x\r\n
expect 250
send MAIL FROM:<a@example.org> SIZE=100\r\n
expect 555 5.5.4
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org> SIZE=4096\r\n
expect 552 5.3.4
send MAIL FROM:<a@example.org> FROB=1\r\n
expect 555 5.5.4
send MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME\r\n
expect 250
send RCPT TO:<alice@localhost> XFOO=1\r\n
expect 555 5.5.4
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "a message over message_size_limit is refused with 552 and not queued" {
	ph_conf message_size_limit 2048
	ph_start
	{
		echo 'expect 220'; echo 'send EHLO x\r\n'; echo 'expect 250'
		echo 'send MAIL FROM:<a@example.org>\r\n'; echo 'expect 250'
		echo 'send RCPT TO:<alice@localhost>\r\n'; echo 'expect 250'
		echo 'send DATA\r\n'; echo 'expect 354'
		for i in $(seq 1 60); do
			echo "send line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
		done
		echo 'send .\r\n'; echo 'expect 552 5.3.4'
		echo 'send NOOP\r\n'; echo 'expect 250'
		echo 'send QUIT\r\n'; echo 'expect 221'
	} > "$PH_DIR/script"
	run ph_smtp < "$PH_DIR/script"
	[ "$status" -eq 0 ]
	sleep 0.3
	[ "$(ph_queue_files)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 0 ]
}

@test "smuggling: LF.LF, CR.CR, LF.CRLF and CRLF.LF do not end DATA" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n
send x\r.\rRSET\r\n
send y\n.\r\nQUIT\r\n
send z\r\n.\nNOOP\r\n
send end\r\n.\r\n
expect 554 5.6.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	# Exactly one reply to the whole DATA: the smuggled commands were data.
	[ "$(echo "$output" | grep -c '^250 2.1')" -eq 2 ]
	[[ "$output" != *"221 2.0.0 Bye"*"221"* ]]
	sleep 0.3
	[ "$(ph_count_mail bob)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 0 ]
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "NUL bytes in DATA make the message refused; in a command, the command" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send NO\x00OP\r\n
expect 500 5.5.2
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: nul\r\n\r\nbad\x00byte\r\n.\r\n
expect 554 5.6.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"NUL"* ]]
	sleep 0.3
	[ "$(ph_count_mail alice)" -eq 0 ]
}

@test "a command line over smtpd_command_line_limit gets 500 5.5.2, the session goes on" {
	ph_start
	long=$(printf 'x%.0s' $(seq 1 600))
	run ph_smtp <<EOF2
expect 220
send EHLO x\r\n
expect 250
send NOOP $long\r\n
expect 500 5.5.2
send NOOP\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"line too long"* ]]
}

@test "a huge line without newline is discarded in bounded memory" {
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rb")
assert f.readline().startswith(b"220")
junk = b"A" * 65536
for _ in range(64):          # 4 MiB of one "line"
    s.sendall(junk)
s.sendall(b"\r\nNOOP\r\n")
r1 = f.readline(); r2 = f.readline()
assert r1.startswith(b"500 5.5.2"), r1
assert r2.startswith(b"250"), r2
PY
	pid=$(ph_pid_of smtp)
	rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
	[ "$rss" -lt 20000 ]
}

@test "pipelining: a whole transaction in one write, replies in order" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<p@example.org>\r\nRCPT TO:<alice@localhost>\r\nRCPT TO:<ghost@localhost>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n
expect 250 2.1.0
expect 250 2.1.5
expect 550 5.1.1
expect 250 2.1.5
expect 354
send Subject: piped\r\n\r\npipelined body\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n
expect 250 2.0.0
expect 250
expect 250
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	ph_wait_mail bob 1
}

@test "too many errors: 421 and the connection is closed" {
	ph_conf smtpd_error_limit 3
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send FOO\r\n
expect 500
send BAR\r\n
expect 500
send BAZ\r\n
drain
EOF2
	[[ "$output" == *"421 4.7.0"*"too many errors"* ]]
	[[ "$output" == *"(connection closed)"* ]]
}

@test "an idle client is dropped with 421 after smtpd_timeout" {
	ph_conf smtpd_timeout 1s
	ph_start
	run ph_smtp <<'EOF2'
expect 220
sleep 2.5
drain
EOF2
	[[ "$output" == *"421 4.4.2"*"timeout"* ]]
}

@test "smtpd_recipient_limit: 452 4.5.3 past the limit" {
	ph_conf smtpd_recipient_limit 2
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send RCPT TO:<bob@localhost>\r\n
expect 250
send RCPT TO:<postmaster@localhost>\r\n
expect 452 4.5.3
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "random junk: every line answered, the server stays up" {
	ph_start
	python3 - "$PH_PORT" <<'PY'
import random, socket, sys
rng = random.Random(5321)
port = int(sys.argv[1])
verbs = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET",
         b"NOOP", b"VRFY", b"HELP", b"QUIT", b"BDAT", b"", b"\xff\xfe"]
for conn in range(20):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    for i in range(100):
        v = rng.choice(verbs)
        if v in (b"QUIT", b"DATA", b"BDAT"):
            v = b"NOOP"
        junk = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 80)))
        line = v + b" " + junk.replace(b"\n", b"").replace(b"\r", b"").replace(b"\0", b"")
        s.sendall(line + b"\r\n")
        while True:
            r = f.readline()
            assert r, "connection closed"
            assert r[:3].isdigit(), r
            if r[3:4] != b"-":
                break
        if r.startswith(b"421"):
            break
    s.close()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
assert s.makefile("rb").readline().startswith(b"220")
PY
}

@test "a client that never reads its replies cannot grow smtpd's memory" {
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.setblocking(False)
sent = 0
deadline = time.time() + 3
while time.time() < deadline and sent < 64 * 1024 * 1024:
    try:
        sent += s.send(b"NOOP\r\n" * 10000)
    except BlockingIOError:
        time.sleep(0.01)
print("sent", sent)
# The server stopped reading long before 64 MiB.
assert sent < 16 * 1024 * 1024, sent
PY
	pid=$(ph_pid_of smtp)
	rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
	[ "$rss" -lt 20000 ]
}

@test "low disk: MAIL gets 452 4.3.1 when the queue has less than queue_minfree" {
	ph_conf queue_minfree 1000000g
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 452 4.3.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	grep -q "bytes free in the queue file system" "$PH_LOG"
}

@test "a client that talks before the greeting is refused" {
	ph_conf smtpd_greet_pause 1s
	ph_start
	run ph_smtp <<'EOF2'
send EHLO early\r\n
drain
EOF2
	[[ "${lines[0]}" == "220-"* ]]
	[[ "$output" == *"554 5.5.1 Error: talked before the greeting"* ]]
	[[ "$output" != *"250"* ]]
	# A patient client is served.
	run ph_smtp <<'EOF2'
expect 220
send EHLO patient\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "smtpd_client_connection_limit: one address cannot take every slot" {
	ph_conf smtpd_client_connection_limit 3
	ph_conf mynetworks 192.0.2.0/24
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
held = []
for i in range(3):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert s.makefile("rb").readline().startswith(b"220")
    held.append(s)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
line = s.makefile("rb").readline()
assert line.startswith(b"421 4.7.0"), line
held[0].close()
import time; time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
assert s.makefile("rb").readline().startswith(b"220")
PY
}
