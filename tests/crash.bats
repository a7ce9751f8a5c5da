#!/usr/bin/env bats
# Crash safety under load: tools/crashtest.py sends messages while it
# kill -9s random posthorn processes (master included, restarted as an
# init system would), then checks that every message answered 250 was
# delivered.  The long soak: see RELIABILITY.md.

load lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 1s
	ph_conf maximal_backoff_time 2s
	ph_conf queue_run_delay 1s
	ph_conf drain_timeout 1s
}

teardown() {
	ph_teardown
}

@test "kill -9 of random processes under load: no accepted message is lost" {
	ph_start
	run python3 "$PH_SRC/tools/crashtest.py" --conf "$PH_CONF" \
	    --queue "$PH_DIR/queue" --maildir "$PH_MAIL/alice/Maildir" \
	    --port "$PH_PORT" --messages "${CRASH_MESSAGES:-300}" \
	    --clients 3 --kill-every 0.15 --settle 90 \
	    --master "$PH_LIBEXEC/master" --log "$PH_LOG" --seed 1
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read().splitlines()[-1])
assert r["lost"] == 0, r
assert r["accepted"] > 0 and r["kills"] > 0, r
assert r["left_in_queue"] == 0, r
'
}
