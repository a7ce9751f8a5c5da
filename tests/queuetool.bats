#!/usr/bin/env bats
# The queue tool (posthorn-queue, mailq): list, show, delete, hold,
# release, requeue, over qmgr's admin socket.

load lib
load relay_lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 1h
	ph_conf maximal_backoff_time 2h
}

teardown() {
	ph_teardown
}

# deferred_ids: the IDs in deferred/, one per line.
deferred_ids() {
	find "$PH_DIR/queue/deferred" -type f ! -name .lock -printf '%f\n' | sort
}

wait_deferred() {
	for i in $(seq 1 200); do
		[ "$(deferred_ids | wc -l)" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

@test "mailq: empty, then each message with size, sender, the reason and its pending recipients; -j is JSON" {
	ph_start
	run pq list
	[ "$status" -eq 0 ]
	[ "$output" = "Mail queue is empty" ]
	send s@example.org u1@nowhere.test u2@nowhere.test
	send "" u3@elsewhere.test
	wait_deferred 2
	run "$PH_BUILD/bin/mailq" -c "$PH_CONF"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "-Queue ID-"* ]]
	for id in $(deferred_ids); do
		echo "$output" | grep -qE "^$id  +[0-9]+ .* (s@example.org|MAILER-DAEMON)$"
	done
	echo "$output" | grep -qE "^ +\(.*nowhere.test.*\)$"
	echo "$output" | grep -qE "^ {42}u1@nowhere.test$"
	echo "$output" | grep -qE "^ {42}u3@elsewhere.test$"
	[[ "$output" == *"MAILER-DAEMON"* ]]
	echo "$output" | grep -qE "^-- [0-9]+ Kbytes in 2 Requests.$"
	run pq list -j
	echo "$output"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
msgs = [json.loads(l) for l in sys.stdin.read().splitlines()]
assert len(msgs) == 2, msgs
by = {m["sender"]: m for m in msgs}
m = by["s@example.org"]
assert m["queue_name"] == "deferred" and m["message_size"] > 0, m
assert [r["address"] for r in m["recipients"]] == ["u1@nowhere.test", "u2@nowhere.test"], m
assert "nowhere.test" in m["recipients"][0]["delay_reason"], m
assert by[""]["recipients"][0]["address"] == "u3@elsewhere.test"
' <<< "$output"
}

@test "show: the envelope and the message as queued; an unknown ID is an error" {
	ph_start
	send s@example.org u1@nowhere.test
	wait_deferred 1
	id=$(deferred_ids)
	run pq show "$id"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"*** ENVELOPE RECORDS $id ***"* ]]
	[[ "$output" == *"sender: s@example.org"* ]]
	[[ "$output" == *"recipient: u1@nowhere.test (pending): 4."* ]]
	[[ "$output" == *"*** MESSAGE CONTENTS ***"* ]]
	[[ "$output" == *"Subject: relayed"* ]]
	[[ "$output" == *".starts with a dot"* ]]
	run pq show 0000000000000000
	[ "$status" -ne 0 ]
	[[ "$output" == *"no such message"* ]]
	run pq show ../etc/passwd
	[ "$status" -eq 64 ]
}

@test "hold keeps a message from every attempt and flush; release tries it at once; the ! marks it" {
	ph_conf queue_run_delay 1s
	ph_conf minimal_backoff_time 1s
	ph_conf maximal_backoff_time 1s
	ph_start
	send s@example.org u1@nowhere.test
	wait_deferred 1
	id=$(deferred_ids)
	run pq hold "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *"hold: 1 message"* ]]
	grep -q "$id: put on hold by the administrator" "$PH_LOG"
	run pq list
	echo "$output" | grep -q "^$id! "
	n=$(grep -c "$id: to=<u1@nowhere.test>.*status=deferred" "$PH_LOG")
	pq flush
	sleep 2.5
	[ "$(grep -c "$id: to=<u1@nowhere.test>.*status=deferred" "$PH_LOG")" -eq "$n" ]
	run pq release "$id"
	[ "$status" -eq 0 ]
	wait_log "$id: to=<u1@nowhere.test>.*status=deferred" 5
	for i in $(seq 1 100); do
		[ "$(grep -c "$id: to=<u1@nowhere.test>.*status=deferred" "$PH_LOG")" -gt "$n" ] && break
		sleep 0.05
	done
	[ "$(grep -c "$id: to=<u1@nowhere.test>.*status=deferred" "$PH_LOG")" -gt "$n" ]
	run pq release "$id"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not on hold"* ]]
}

@test "delete one, delete ALL deferred, and requeue: what the log and the queue say" {
	ph_start
	send s@example.org u1@nowhere.test
	send s@example.org u2@nowhere.test
	send s@example.org u3@nowhere.test
	wait_deferred 3
	set -- $(deferred_ids)
	run pq delete "$1"
	[ "$status" -eq 0 ]
	grep -q "$1: deleted by the administrator" "$PH_LOG"
	[ "$(deferred_ids | wc -l)" -eq 2 ]
	run pq delete "$1"
	[ "$status" -ne 0 ]
	n=$(grep -c "$2: to=<.*status=deferred" "$PH_LOG")
	run pq requeue "$2"
	[ "$status" -eq 0 ]
	for i in $(seq 1 100); do
		[ "$(grep -c "$2: to=<.*status=deferred" "$PH_LOG")" -gt "$n" ] && break
		sleep 0.05
	done
	[ "$(grep -c "$2: to=<.*status=deferred" "$PH_LOG")" -gt "$n" ]
	wait_deferred 2
	run pq hold "$3"
	run pq delete ALL --deferred
	[ "$status" -eq 0 ]
	[[ "$output" == *"delete: 1 message"* ]]
	# The held one stays.
	run pq list
	echo "$output" | grep -q "^$3! "
	run pq delete ALL
	[[ "$output" == *"delete: 1 message"* ]]
	[ "$(ph_queue_files)" -eq 0 ]
	[ -z "$(find "$PH_DIR/queue/hold" -type f)" ]
	run pq frobnicate
	[ "$status" -eq 64 ]
}

@test "the admin socket is for root and queue_admin_group only" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (users and groups)"
	ph_start
	[ "$(stat -c %G "$PH_DIR/queue/public")" = root ]
	[ "$(stat -c %a "$PH_DIR/queue/public")" = 2750 ]
	run su nobody -s /bin/sh -c "ASAN_OPTIONS='${ASAN_OPTIONS:-}' '$PH_BUILD/bin/posthorn-queue' -c '$PH_CONF' list"
	echo "$output"
	[ "$status" -eq 75 ]
	[[ "$output" == *"Permission denied"* ]]
	run pq list
	[ "$status" -eq 0 ]
}

@test "a message held and released while it waits for a slot: one attempt at a time, one delivery" {
	printf 'slow: "|sleep 3"\n' >> "$PH_CONF/aliases"
	ph_conf qmgr_message_active_limit 2
	ph_start
	# Two slow ones take both slots; the third waits.
	send s1@example.org slow@localhost
	send s3@example.org slow@localhost
	send s2@example.org slow@localhost
	wait_log "from=<s2@example.org>.*queue active" 5
	id=$(sed -n 's/.*: \([0-9A-F]*\): from=<s2@example.org>.*/\1/p' "$PH_LOG")
	[ -n "$id" ]
	# Taken out and put back while it waits, it is queued a second time;
	# when the slots free, its second entry finds it being delivered.
	run pq hold "$id"
	[ "$status" -eq 0 ]
	run pq release "$id"
	[ "$status" -eq 0 ]
	wait_log "$id: already being delivered" 15
	wait_log "qmgr.*$id: removed" 15
	sleep 0.5
	[ "$(grep -c "qmgr.*$id: to=<slow@localhost>.*status=sent" "$PH_LOG")" -eq 1 ]
	[ "$(ph_queue_files)" -eq 0 ]
}
