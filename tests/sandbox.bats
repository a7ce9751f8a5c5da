#!/usr/bin/env bats
# The seccomp-bpf filter of smtpd, smtp, keyd and auth (#9): which processes carry
# one, and what a process that an attacker took over can no longer do.
# The attacker is played by gdb, which makes the process itself call
# open(2), socket(2), fork(2) and execve(2).

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

seccomp_of() {
	awk '/^Seccomp:/ {print $2}' "/proc/$1/status"
}

# filtered SERVICE: its process has installed its filter (it does so once
# it has started up, which ph_start does not wait for beyond smtpd).
filtered() {
	local i
	for i in $(seq 1 100); do
		[ "$(seccomp_of "$(ph_pid_of "$1")")" = 2 ] && return 0
		sleep 0.1
	done
	return 1
}

# in_process PID EXPR...: evaluate each C expression inside PID; prints
# one result per line.
in_process() {
	local pid=$1 a=()
	shift
	for e in "$@"; do a+=(-ex "print (long)($e)"); done
	gdb -q -batch -nx -p "$pid" "${a[@]}" -ex detach 2>&1 |
	    sed -n 's/^\$[0-9]* = //p'
}

need_gdb() {
	command -v gdb >/dev/null || skip "gdb missing"
	[ "$(id -u)" -eq 0 ] ||
	    [ "$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)" = 0 ] ||
	    skip "ptrace_scope forbids attaching"
}

@test "smtpd, every smtp agent, keyd and auth run under a filter; master, qmgr and local do not" {
	ph_start
	filtered smtp
	filtered keyd
	filtered auth
	local p n=0
	for p in $(pgrep -f -- "/smtp -c $PH_CONF "); do
		for i in $(seq 1 100); do
			[ "$(seccomp_of "$p")" = 2 ] && break
			sleep 0.1
		done
		[ "$(seccomp_of "$p")" = 2 ]
		n=$((n + 1))
	done
	[ "$n" -ge 1 ]
	[ "$(seccomp_of "$PH_MASTER")" = 0 ]
	[ "$(seccomp_of "$(ph_pid_of qmgr)")" = 0 ]
	# And the instance works: mail in, and out through an smtp agent.
	port=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$port"
	ph_conf relayhost "[127.0.0.1]:$port"
	ph_stop
	ph_start
	python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.sendmail("a@localhost", ["alice@localhost", "far@example.net"], "Subject: f\r\n\r\nfiltered\r\n")
PY
	ph_wait_mail alice 1
	for i in $(seq 1 100); do grep -q "to=<far@example.net>.*status=sent" "$PH_LOG" && break; sleep 0.05; done
	grep -q "to=<far@example.net>.*status=sent" "$PH_LOG"
}

@test "seccomp_filter = no: no filter" {
	ph_conf seccomp_filter no
	ph_start
	[ "$(seccomp_of "$(ph_pid_of smtp)")" = 0 ]
}

@test "a taken-over smtpd cannot open a file or an Internet socket, nor fork; running a program kills it" {
	need_gdb
	ph_start
	pid=$(ph_pid_of smtp)
	run in_process "$pid" 'open("/etc/passwd", 0)' '*(int *)__errno_location()' \
	    'socket(2, 1, 0)' 'socket(10, 2, 0)' 'socket(1, 1, 0)' 'fork()' \
	    'mkdir("/x", 0700)'
	echo "$output"
	results=($output)
	[ "${results[0]}" = -1 ]
	[ "${results[1]}" = 13 ]	# EACCES
	[ "${results[2]}" = -1 ]
	[ "${results[3]}" = -1 ]
	[ "${results[4]}" -ge 0 ]	# AF_UNIX: qmgr, auth and keyd are there
	[ "${results[5]}" = -1 ]
	[ "${results[6]}" = -1 ]
	# Still serving.
	ph_wait_listen "$PH_PORT"
	in_process "$pid" 'execve("/bin/true", 0, 0)' || true
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$pid" 2>/dev/null; then false; fi
	grep -Eq "smtpd.*(killed by signal 31|SIGSYS)" "$PH_LOG"
	# master starts another, which serves.
	for i in $(seq 1 100); do
		new=$(ph_pid_of smtp)
		[ -n "$new" ] && [ "$new" != "$pid" ] && break
		sleep 0.1
	done
	[ "$new" != "$pid" ]
	ph_wait_listen "$PH_PORT"
}

@test "a taken-over smtp agent may read files, not write them, and may not run a program" {
	need_gdb
	ph_start
	pid=$(pgrep -f -- "/smtp -c $PH_CONF " | head -n 1)
	[ -n "$pid" ]
	run in_process "$pid" 'open("/etc/passwd", 0)' \
	    'open("/tmp/posthorn-sandbox-test", 0101, 0600)' \
	    'open("/etc/passwd", 02)' 'unlink("/tmp/posthorn-sandbox-test")' \
	    'socket(2, 1, 0)'
	echo "$output"
	results=($output)
	[ "${results[0]}" -ge 0 ]
	[ "${results[1]}" = -1 ]
	[ "${results[2]}" = -1 ]
	[ "${results[3]}" = -1 ]
	[ "${results[4]}" -ge 0 ]
	[ ! -e /tmp/posthorn-sandbox-test ]
	in_process "$pid" 'execve("/bin/true", 0, 0)' || true
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$pid" 2>/dev/null; then false; fi
}
