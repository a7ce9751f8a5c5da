#!/usr/bin/env bats
# Garbage in: thousands of junk command lines and random bytes in every
# protocol state; smtpd answers each line and stays up.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

@test "random junk: every line answered, the server stays up" {
	# Let the junk run long: thousands of lines, not the first 20 errors.
	ph_conf smtpd_error_limit 100000
	ph_start
	python3 - "$PH_PORT" <<'PY'
import random, socket, sys
rng = random.Random(5321)
port = int(sys.argv[1])
answered = 0
verbs = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET",
         b"NOOP", b"VRFY", b"HELP", b"QUIT", b"BDAT", b"", b"\xff\xfe"]
for conn in range(50):
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
        answered += 1
    s.close()
print("answered", answered)
assert answered >= 4900, answered
s = socket.create_connection(("127.0.0.1", port), timeout=10)
assert s.makefile("rb").readline().startswith(b"220")
PY
}

@test "raw junk: random bytes (NUL, CR, LF, binary) in every state never crash smtpd" {
	ph_start
	pid=$(ph_pid_of smtp)
	python3 - "$PH_PORT" <<'PY'
import random, socket, sys
rng = random.Random(6531)
port = int(sys.argv[1])
prefixes = [b"", b"EHLO x\r\n", b"EHLO x\r\nMAIL FROM:<a@example.org>\r\n",
            b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n",
            b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@localhost>\r\nBDAT 300\r\n"]
for conn in range(60):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10)
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
    for special in (b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"BDAT 5 LAST\r\n", b"\0"):
        if rng.random() < 0.3:
            pos = rng.randrange(len(junk) + 1)
            junk = junk[:pos] + special + junk[pos:]
    try:
        s.sendall(rng.choice(prefixes) + junk + b"\r\nQUIT\r\n")
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        pass
    s.close()
PY
	# The same process is still there and still answers correctly.
	[ "$(ph_pid_of smtp)" = "$pid" ]
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
	[ "$rss" -lt 20000 ]
}
