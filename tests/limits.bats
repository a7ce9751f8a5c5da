#!/usr/bin/env bats
# Limits, each configurable: sizes, line lengths, recipients, errors,
# timeouts, connections per address, replies not read, low disk.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
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

@test "a flood beyond smtpd_client_limit gets 421 4.3.2 and the server serves again when it ends" {
	ph_conf smtpd_client_limit 5
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(5):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert s.makefile("rb").readline().startswith(b"220")
    held.append(s)
flood = [socket.create_connection(("127.0.0.1", port), timeout=5) for i in range(40)]
for s in flood:
    line = s.makefile("rb").readline()
    assert line.startswith(b"421 4.3.2 ") and b"too many connections" in line, line
    s.close()
for s in held:
    s.close()
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
assert s.makefile("rb").readline().startswith(b"220")
PY
	grep -Eq "connections? refused with 421: 5 sessions, smtpd_client_limit 5" "$PH_LOG"
	[ -n "$(ph_pid_of smtp)" ]
}

@test "out of file descriptors: clients get 421, smtpd does not spin, and serves again" {
	ph_start
	pid=$(ph_pid_of smtp)
	# A handful of descriptors: the listener, qmgr's and master's
	# channels, the log, the spare, and a few sessions.
	local u g
	u=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
	g=$(awk '/^Gid:/ {print $2}' "/proc/$pid/status")
	if [ "$u" = "$(id -u)" ]; then
		prlimit --pid "$pid" --nofile=16:16
	else
		# Root here may lack CAP_SYS_RESOURCE (containers): as its user.
		setpriv --reuid="$u" --regid="$g" --clear-groups \
		    prlimit --pid "$pid" --nofile=16:16
	fi
	python3 - "$PH_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
held, refused = [], 0
for i in range(30):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    line = s.makefile("rb").readline()
    if line.startswith(b"220"):
        held.append(s)
    else:
        assert line.startswith(b"421 4.3.2 "), line
        refused += 1
        s.close()
assert held and refused, (len(held), refused)
for s in held:
    s.close()
time.sleep(1.5)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
assert s.makefile("rb").readline().startswith(b"220")
PY
	grep -q "(out of file descriptors)" "$PH_LOG"
	# Paused, not spinning on accept: a few warnings, not thousands.
	[ "$(grep -c 'accept (raise the file limit' "$PH_LOG")" -lt 20 ]
	[ "$(ph_pid_of smtp)" = "$pid" ]
}

@test "slowloris: a command line dribbled a byte at a time is cut at smtpd_timeout, however often bytes come" {
	ph_conf smtpd_timeout 2s
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
assert f.readline().startswith(b"220")
start = time.time()
try:
    for c in b"NOOP " + b"x" * 40:
        s.send(bytes([c]))
        time.sleep(0.4)
except (BrokenPipeError, ConnectionResetError):
    pass
line = f.readline()
assert line.startswith(b"421 4.4.2 "), line
assert time.time() - start < 6, time.time() - start
PY
	grep -q "timeout after command" "$PH_LOG"
}

@test "slowloris in DATA: text slower than smtpd_min_data_rate is cut; a slow client above the rate is not" {
	ph_conf smtpd_data_timeout 2s
	ph_conf smtpd_min_data_rate 1000
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def begin():
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n")
    for want in (b"250", b"250", b"250", b"354"):
        line = f.readline()
        assert line.startswith(want), line
    return s, f
# 20 bytes every 0.25 s (80 B/s): every read gains 20 ms, and loses 250.
s, f = begin()
start = time.time()
try:
    while time.time() - start < 8:
        s.send(b"x" * 18 + b"\r\n")
        time.sleep(0.25)
except (BrokenPipeError, ConnectionResetError):
    pass
line = f.readline()
assert line.startswith(b"421 4.4.2 "), line
assert time.time() - start < 6, time.time() - start
s.close()
# 1000 bytes every 0.25 s (4 kB/s) for 4 s: twice the timeout, still fine.
s, f = begin()
start = time.time()
while time.time() - start < 4:
    s.sendall((b"y" * 98 + b"\r\n") * 10)
    time.sleep(0.25)
s.sendall(b".\r\n")
line = f.readline()
assert line.startswith(b"250 "), line
PY
	ph_wait_mail alice 1
	grep -q "timeout after DATA" "$PH_LOG"
}

@test "memory per session is bounded: 300 sessions inside a transaction cost smtpd and qmgr a few KiB each" {
	ph_start
	python3 - "$PH_PORT" "$(ph_pid_of smtp)" "$(ph_pid_of qmgr)" <<'PY' >&3
import socket, sys, time
port, spid, qpid = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def rss(pid):
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
conns = []
def open_sessions(n):
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        assert f.readline().startswith(b"220")
        s.sendall(b"HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@localhost>\r\n")
        for i in range(3):
            assert f.readline().startswith(b"250")
        conns.append(s)
open_sessions(20)
s0, q0 = rss(spid), rss(qpid)
open_sessions(300)
time.sleep(0.3)
s1, q1 = rss(spid), rss(qpid)
per_s, per_q = (s1 - s0) / 300, (q1 - q0) / 300
print("# per session: smtpd %.1f KiB, qmgr %.1f KiB" % (per_s, per_q))
assert per_s < 48 and per_q < 32, (per_s, per_q)
PY
}

@test "a 30 MB message is streamed: smtpd and qmgr stay small, and it is delivered whole" {
	ph_conf message_size_limit 40m
	ph_start
	spid=$(ph_pid_of smtp)
	qpid=$(ph_pid_of qmgr)
	python3 - "$PH_PORT" "$spid" "$qpid" <<'PY'
import socket, sys, threading, time
port, spid, qpid = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def rss(pid):
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
peak = [0, 0]
done = False
def watch():
    while not done:
        peak[0] = max(peak[0], rss(spid))
        peak[1] = max(peak[1], rss(qpid))
        time.sleep(0.01)
t = threading.Thread(target=watch)
t.start()
s = socket.create_connection(("127.0.0.1", port), timeout=60)
f = s.makefile("rb")
def reply():
    while True:
        l = f.readline()
        if l[3:4] != b"-":
            return l
assert reply().startswith(b"220")
s.sendall(b"EHLO x\r\n"); assert reply().startswith(b"250")
s.sendall(b"MAIL FROM:<a@example.org> SIZE=31000000\r\n"); assert reply().startswith(b"250")
s.sendall(b"RCPT TO:<alice@localhost>\r\n"); assert reply().startswith(b"250")
s.sendall(b"DATA\r\n"); assert reply().startswith(b"354")
s.sendall(b"Subject: big\r\n\r\n")
line = b"%07d " + b"y" * 90 + b"\r\n"
chunk = b"".join(line % i for i in range(1000))
for i in range(300):
    s.sendall(chunk)
s.sendall(b".\r\n")
r = reply()
done = True
t.join()
assert r.startswith(b"250 2.0.0"), r
print("# peak RSS: smtpd %d KiB, qmgr %d KiB" % tuple(peak))
assert peak[0] < 20000 and peak[1] < 20000, peak
PY
	ph_wait_mail alice 1 30
	[ "$(wc -c < "$(ph_mail_file alice)")" -gt 29700000 ]
	[ "$(grep -c '^0000999 y' "$(ph_mail_file alice)")" -eq 300 ]
}
