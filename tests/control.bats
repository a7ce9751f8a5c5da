#!/usr/bin/env bats
# The control command (posthorn start, stop, abort, reload, status,
# check, flush) and the configuration query tool (posthorn-conf).

load lib

setup() {
	ph_setup
}

teardown() {
	[ -s "$PH_DIR/queue/pid/master.pid" ] && PH_MASTER=$(cat "$PH_DIR/queue/pid/master.pid")
	ph_teardown
}

ctl() {
	"$PH_BUILD/bin/posthorn" -c "$PH_CONF" "$@"
}

conf() {
	"$PH_BUILD/bin/posthorn-conf" -c "$PH_CONF" "$@"
}

@test "posthorn-conf: every parameter, the changed ones (-n), the defaults (-d), one value (-h)" {
	run conf
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c ' = ')" -gt 100 ]
	echo "$output" | grep -qx "queue_directory = $PH_DIR/queue"
	echo "$output" | grep -qx "maximal_queue_lifetime = 5d"
	echo "$output" | grep -qx "smtpd_tls_auth_only = yes"
	run conf -n
	echo "$output" | grep -qx "queue_directory = $PH_DIR/queue"
	if echo "$output" | grep -q "^maximal_queue_lifetime"; then false; fi
	ph_conf maximal_queue_lifetime 3d
	run conf -n maximal_queue_lifetime message_size_limit
	[ "$output" = "maximal_queue_lifetime = 3d" ]
	run conf -h drain_timeout
	[ "$output" = "10s" ]
	run conf -d queue_directory smtp_connection_cache_time_limit
	[ "${lines[0]}" = "queue_directory = /var/spool/posthorn" ]
	[ "${lines[1]}" = "smtp_connection_cache_time_limit = 2s" ]
	run conf no_such_parameter
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown parameter 'no_such_parameter'"* ]]
	echo "typo_parameter = 1" >> "$PH_CONF/posthorn.conf"
	run conf
	[ "$status" -eq 1 ]
	[[ "$output" == *"posthorn.conf:"*": unknown parameter 'typo_parameter'"* ]]
}

@test "posthorn start, status, reload, stop; a broken configuration is not reloaded" {
	ph_maps
	run ctl status
	[ "$status" -eq 1 ]
	[[ "$output" == *"not running"* ]]
	run ctl start
	echo "$output"
	[ "$status" -eq 0 ]
	ph_wait_listen "$PH_PORT"
	run ctl status
	[ "$status" -eq 0 ]
	pid=$(cat "$PH_DIR/queue/pid/master.pid")
	[[ "$output" == *"is running: PID: $pid"* ]]
	run ctl start
	[ "$status" -eq 1 ]
	[[ "$output" == *"already running: PID: $pid"* ]]
	run ctl reload
	[ "$status" -eq 0 ]
	[[ "$output" == *"refreshing the mail system"* ]]
	echo "bogus line" >> "$PH_CONF/posthorn.conf"
	run ctl reload
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"posthorn.conf:"*"expected 'name = value'"* ]]
	[[ "$output" == *"not reloaded"* ]]
	sed -i '$d' "$PH_CONF/posthorn.conf"
	# The master's own log (syslog when detached) is not ours to read;
	# the pid file lock is what status looks at.
	run ctl stop
	[ "$status" -eq 0 ]
	[[ "$output" == *"stopping the mail system"* ]]
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$pid" 2>/dev/null; then false; fi
	[ ! -e "$PH_DIR/queue/pid/master.pid" ]
	run ctl status
	[ "$status" -eq 1 ]
	run ctl stop
	[ "$status" -eq 1 ]
}

@test "posthorn abort stops at once; the queue keeps what it had" {
	ph_maps
	ph_conf drain_timeout 60s
	run ctl start
	[ "$status" -eq 0 ]
	ph_wait_listen "$PH_PORT"
	python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("s@example.org", ["u@nowhere.test"], "Subject: x\r\n\r\nbody\r\n")
PY
	# A client in the middle of a session would hold a drain for 60s.
	exec 7<>/dev/tcp/127.0.0.1/$PH_PORT
	start=$(date +%s)
	run ctl abort
	[ "$status" -eq 0 ]
	[[ "$output" == *"aborting the mail system"* ]]
	[ $(( $(date +%s) - start )) -lt 10 ]
	exec 7>&-
	[ -z "$(ph_pids)" ]
	[ "$(find "$PH_DIR/queue/deferred" "$PH_DIR/queue/active" -type f ! -name .lock | wc -l)" -eq 1 ]
}

@test "posthorn check: valid; then a stale map, a missing map, a world-writable file and a bad master.conf" {
	ph_maps
	run ctl check
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"configuration in $PH_CONF is valid"* ]]
	touch -d '+1 hour' "$PH_CONF/aliases"
	run ctl check
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"warning: alias_map: $PH_CONF/aliases is newer than $PH_CONF/aliases.db: run posthorn-map hash:$PH_CONF/aliases"* ]]
	[[ "$output" == *"valid (with warnings)"* ]]
	ph_conf transport_map "hash:$PH_DIR/nonexistent"
	chmod o+w "$PH_CONF/master.conf"
	run ctl check
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"error: transport_map: "*"nonexistent"* ]]
	[[ "$output" == *"error: $PH_CONF/master.conf is writable by everybody"* ]]
	chmod o-w "$PH_CONF/master.conf"
	sed -i '/^transport_map/d' "$PH_CONF/posthorn.conf"
	echo "extra 127.0.0.1:1 nosuchprogram 1 posthorn n" >> "$PH_CONF/master.conf"
	run ctl check
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"master.conf:"* ]]
}

@test "posthorn flush asks the queue manager, like posthorn-queue flush" {
	ph_start
	run ctl flush
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 messages of the deferred queue queued for delivery"* ]]
	run ctl flush example.org
	[[ "$output" == *"0 messages of example.org queued for delivery"* ]]
	run ctl frobnicate
	[ "$status" -eq 2 ]
}
