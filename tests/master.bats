#!/usr/bin/env bats
# The master: supervision, restarts, reload, stop, configuration errors.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

send_one() {	# send_one RCPT TEXT
	python3 - "$PH_PORT" "$1" "$2" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.sendmail("t@example.org", [sys.argv[2]], f"Subject: t\r\n\r\n{sys.argv[3]}\r\n")
PY
}

@test "every service runs as its own process" {
	ph_start
	[ -n "$(ph_pid_of smtp)" ]
	[ -n "$(ph_pid_of submission)" ]
	[ -n "$(ph_pid_of qmgr)" ]
	[ "$(pgrep -f -- "-c $PH_CONF -n local " | wc -l)" -eq 4 ]
	if [ "$(id -u)" -eq 0 ]; then
		[ "$(ps -o user= -p "$(ph_pid_of smtp)")" = posthorn ]
		[ "$(ps -o user= -p "$(ph_pid_of qmgr)")" = posthorn-queue ]
		# smtpd is chrooted into the queue directory.
		[ "$(readlink /proc/$(ph_pid_of smtp)/root)" = "$PH_DIR/queue" ]
		# Nobody but the queue owner can read the queue.
		[ "$(stat -c %a "$PH_DIR/queue/active")" = 700 ]
	fi
}

@test "kill -9 of the queue manager right after a 250 loses nothing" {
	ph_start
	# Make delivery impossible for a moment, so the message is surely
	# still in the queue when qmgr dies.
	qmgr=$(ph_pid_of qmgr)
	for p in $(pgrep -f -- "-c $PH_CONF -n local "); do kill -STOP $p; done
	send_one alice@localhost "survives qmgr crash"
	kill -KILL "$qmgr"
	for p in $(pgrep -f -- "-c $PH_CONF -n local "); do kill -CONT $p; done
	ph_wait_mail alice 1 15
	grep -q "survives qmgr crash" "$(ph_mail_file alice)"
	grep -q "service qmgr: process qmgr pid $qmgr killed by signal 9" "$PH_LOG"
	new=$(ph_pid_of qmgr)
	[ -n "$new" ] && [ "$new" != "$qmgr" ]
	# Delivered once, and the queue is empty afterwards.
	sleep 0.5
	[ "$(ph_count_mail alice)" -eq 1 ]
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "kill -9 of smtpd: master restarts it and SMTP works again" {
	ph_start
	old=$(ph_pid_of smtp)
	kill -KILL "$old"
	for i in $(seq 1 100); do
		new=$(ph_pid_of smtp)
		[ -n "$new" ] && [ "$new" != "$old" ] && break
		sleep 0.05
	done
	[ -n "$new" ] && [ "$new" != "$old" ]
	grep -q "service smtp: process smtpd pid $old killed by signal 9" "$PH_LOG"
	send_one bob@localhost "after smtpd restart"
	ph_wait_mail bob 1
}

@test "a crash loop is restarted with growing delays, not spun" {
	ph_start
	for n in 1 2 3; do
		pid=$(ph_pid_of submission)
		kill -KILL "$pid"
		for i in $(seq 1 200); do
			new=$(ph_pid_of submission)
			[ -n "$new" ] && [ "$new" != "$pid" ] && break
			sleep 0.05
		done
	done
	grep -q "service submission: restarting in 250 ms" "$PH_LOG"
	grep -q "service submission: restarting in 500 ms" "$PH_LOG"
	grep -q "service submission: restarting in 1000 ms" "$PH_LOG"
}

@test "SIGHUP reload keeps the listening socket and a session in progress" {
	ph_start
	inode=$(ss -ltnpe "sport = :$PH_PORT" | grep -o 'ino:[0-9]*' | head -n1)
	[ -n "$inode" ]
	old=$(ph_pid_of smtp)
	# A session opened before the reload finishes its message after it.
	python3 - "$PH_PORT" "$PH_MASTER" > "$PH_DIR/out" <<'PY' &
import smtplib, sys, os, time, signal
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.ehlo("x")
    s.mail("r@example.org"); s.rcpt("alice@localhost")
    os.kill(int(sys.argv[2]), signal.SIGHUP)
    time.sleep(1)
    s.data("Subject: across reload\r\n\r\nmade it\r\n")
print("ok")
PY
	client=$!
	wait $client
	grep -qx ok "$PH_DIR/out"
	for i in $(seq 1 100); do
		new=$(ph_pid_of smtp)
		[ -n "$new" ] && [ "$new" != "$old" ] && break
		sleep 0.05
	done
	[ "$new" != "$old" ]
	grep -q "configuration reloaded" "$PH_LOG"
	[ "$(ss -ltnpe "sport = :$PH_PORT" | grep -o 'ino:[0-9]*' | head -n1)" = "$inode" ]
	send_one alice@localhost "after reload"
	ph_wait_mail alice 2
}

@test "SIGHUP with a broken config keeps the old configuration running" {
	ph_start
	echo "no_such_parameter = 1" >> "$PH_CONF/posthorn.conf"
	kill -HUP "$PH_MASTER"
	for i in $(seq 1 40); do
		grep -q "reload refused" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "reload refused, old configuration kept: .*posthorn.conf:[0-9]*: unknown parameter 'no_such_parameter'" "$PH_LOG"
	send_one alice@localhost "still up"
	ph_wait_mail alice 1
}

@test "a config typo gives file:line and a non-zero exit" {
	echo "message_size_limt = 10" >> "$PH_CONF/posthorn.conf"
	line=$(wc -l < "$PH_CONF/posthorn.conf")
	run "$PH_LIBEXEC/master" -f -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"posthorn.conf:$line: unknown parameter 'message_size_limt'"* ]]
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
}

@test "a bad value and a bad master.conf line are errors with file:line" {
	ph_conf smtpd_timeout 5x
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"posthorn.conf:"*": smtpd_timeout: '5x' is not a time"* ]]
	ph_conf smtpd_timeout 300s
	echo "broken 127.0.0.1:1 smtpd many posthorn y" >> "$PH_CONF/master.conf"
	line=$(wc -l < "$PH_CONF/master.conf")
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"master.conf:$line: procs 'many'"* ]]
}

@test "the master refuses to start twice on one instance" {
	ph_start
	run "$PH_LIBEXEC/master" -f -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"already running"*"pid $PH_MASTER"* ]]
	# And the first one is unharmed.
	send_one bob@localhost "first master"
	ph_wait_mail bob 1
}

@test "SIGTERM stops every process and removes the pid file" {
	ph_start
	[ -f "$PH_DIR/queue/pid/master.pid" ]
	[ "$(ph_pids | wc -l)" -ge 7 ]
	kill -TERM "$PH_MASTER"
	for i in $(seq 1 100); do
		[ -z "$(ph_pids)" ] && break
		sleep 0.05
	done
	[ -z "$(ph_pids)" ]
	[ ! -f "$PH_DIR/queue/pid/master.pid" ]
	grep -q "posthorn master stopped" "$PH_LOG"
	PH_MASTER=
}

@test "SIGTERM lets a message in progress finish" {
	ph_start
	python3 - "$PH_PORT" "$PH_MASTER" > "$PH_DIR/out" <<'PY' &
import smtplib, sys, os, time, signal
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.ehlo("x")
    s.mail("r@example.org"); s.rcpt("alice@localhost")
    os.kill(int(sys.argv[2]), signal.SIGTERM)
    time.sleep(0.5)
    s.data("Subject: drain\r\n\r\nfinished while draining\r\n")
    print("accepted")
PY
	wait $!
	grep -qx accepted "$PH_DIR/out"
	for i in $(seq 1 100); do
		[ -z "$(ph_pids)" ] && break
		sleep 0.05
	done
	PH_MASTER=
	# Delivered before the stop, or still safe in the queue.
	[ "$(ph_count_mail alice)" -eq 1 ] || [ "$(ph_queue_files)" -eq 1 ]
}

@test "only the queue manager may hand jobs to local delivery" {
	[ "$(id -u)" -eq 0 ] || skip "needs root: all processes share one uid otherwise"
	ph_start
	# As the smtpd user: connect to private/local and ask for a delivery.
	run setpriv --reuid=posthorn --regid=posthorn --clear-groups -- \
	    /usr/bin/python3 - "$PH_DIR/queue/private/local" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
def rec(t, *f):
    p = b"".join(x.encode() + b"\0" for x in f)
    return bytes([ord(t)]) + struct.pack(">I", len(p)) + p
try:
    s.sendall(rec("J", "6B05B00000000000", "evil@example.org", "0") +
              rec("R", "0", "alice@localhost") + rec("G"))
    print("reply:", s.recv(100) or "closed")
except (BrokenPipeError, ConnectionResetError):
    print("reply: closed")
PY
	[[ "$output" == *"reply: closed"* ]]
	grep -q "refusing a job from uid $(id -u posthorn)" "$PH_LOG"
	[ "$(ph_count_mail alice)" -eq 0 ]
}

@test "per-service -o settings in master.conf apply to that service only" {
	sed -i 's|^\(submission .*\)$|\1 -o message_size_limit=2048|' "$PH_CONF/master.conf"
	grep -q 'message_size_limit=2048' "$PH_CONF/master.conf"
	ph_start
	sub=$(sed -n 's/^submission *127.0.0.1:\([0-9]*\).*/\1/p' "$PH_CONF/master.conf")
	run ph_smtp "$sub" <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[[ "$output" == *"250-SIZE 2048"* ]]
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[[ "$output" == *"250-SIZE 10240000"* ]]
}

@test "master.conf: bad -o settings and bad addresses are refused with file:line" {
	echo "extra 127.0.0.1:1 smtpd 1 posthorn y -o no_such=1" >> "$PH_CONF/master.conf"
	line=$(wc -l < "$PH_CONF/master.conf")
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"master.conf:$line: -o unknown parameter 'no_such'"* ]]
	sed -i '$d' "$PH_CONF/master.conf"
	echo "extra 300.1.1.1:25 smtpd 1 posthorn y" >> "$PH_CONF/master.conf"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"master.conf:$line: '300.1.1.1': not an IP address"* ]]
	sed -i '$d' "$PH_CONF/master.conf"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -eq 0 ]
}

@test "a reload whose new address cannot be bound keeps the old sockets working" {
	ph_start
	# Take a port, then ask the master to listen on it as well.
	# The holder binds a port of the kernel's choosing: a port picked
	# first and bound later may meanwhile be taken (or in TIME_WAIT).
	python3 -c "import socket,time,sys; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)" > "$PH_DIR/busy-port" &
	holder=$!
	for i in $(seq 1 100); do
		[ -s "$PH_DIR/busy-port" ] && break
		sleep 0.05
	done
	busy=$(cat "$PH_DIR/busy-port")
	[ -n "$busy" ]
	echo "extra 127.0.0.1:$busy smtpd 1 posthorn y" >> "$PH_CONF/master.conf"
	kill -HUP "$PH_MASTER"
	for i in $(seq 1 40); do
		grep -q "reload refused" "$PH_LOG" && break
		sleep 0.05
	done
	kill "$holder"
	grep -q "reload refused, old configuration kept: bind 127.0.0.1:$busy" "$PH_LOG"
	# The old children still serve, and so do restarted ones.
	kill -KILL "$(ph_pid_of smtp)"
	sleep 0.5
	ph_wait_listen "$PH_PORT"
	send_one alice@localhost "after a refused reload"
	ph_wait_mail alice 1
	if grep -q "exit status 127" "$PH_LOG"; then false; fi
}

@test "without -f the master detaches after setup; start-up errors still reach stderr" {
	run "$PH_LIBEXEC/master" -c "$PH_CONF"
	[ "$status" -eq 0 ]
	for i in $(seq 1 100); do
		[ -s "$PH_DIR/queue/pid/master.pid" ] && break
		sleep 0.05
	done
	PH_MASTER=$(cat "$PH_DIR/queue/pid/master.pid")
	kill -0 "$PH_MASTER"
	# Detached: not our child, in its own session.
	[ "$(ps -o ppid= -p "$PH_MASTER" | tr -d ' ')" != "$$" ]
	ph_wait_listen "$PH_PORT"
	for i in $(seq 1 100); do
		[ -S "$PH_DIR/queue/private/qmgr" ] && [ -n "$(ph_pid_of qmgr)" ] && break
		sleep 0.05
	done
	send_one bob@localhost "daemon mode"
	ph_wait_mail bob 1
	# A second start fails loudly, on stderr, before detaching.
	run "$PH_LIBEXEC/master" -c "$PH_CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"already running"* ]]
	kill -TERM "$PH_MASTER"
	for i in $(seq 1 100); do
		kill -0 "$PH_MASTER" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$PH_MASTER" 2>/dev/null; then false; fi
	PH_MASTER=
}
