#!/usr/bin/env bats
# Full disks (#9): the queue and the mailboxes on small tmpfs file
# systems (root only: mount(2)).  A full queue refuses with 452 4.3.1
# and keeps nothing half-written; a full mailbox defers, never bounces;
# service resumes by itself when space returns.

load lib
load relay_lib

setup() {
	[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
	ph_setup
	MOUNTS=()
}

teardown() {
	ph_teardown_mounts
}

ph_teardown_mounts() {
	local m
	ph_stop
	for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
	ph_teardown
}

# small_fs DIR SIZE: put DIR (and what it holds, owners and modes kept)
# on a tmpfs of SIZE.
small_fs() {
	local dir=$1 size=$2 keep
	keep=$(mktemp -d "$PH_DIR/keep.XXXXXX")
	cp -a "$dir/." "$keep/"
	mount -t tmpfs -o "size=$size,mode=$(stat -c %a "$dir")" tmpfs "$dir"
	MOUNTS+=("$dir")
	chown "$(stat -c %u:%g "$keep")" "$dir"
	cp -a "$keep/." "$dir/"
	rm -rf "$keep"
}

# fill DIR: a file that takes every free block of DIR's file system,
# but FREE_KB kilobytes.
fill() {
	local dir=$1 free_kb=${2:-0} avail
	avail=$(df -k --output=avail "$dir" | tail -n 1)
	if [ "$avail" -gt "$free_kb" ]; then
		dd if=/dev/zero of="$dir/filler" bs=1k \
		    count=$(( avail - free_kb )) 2>/dev/null || true
	fi
	# tmpfs keeps a little back: take that too when asked for 0.
	if [ "$free_kb" -eq 0 ]; then
		cat /dev/zero >> "$dir/filler" 2>/dev/null || true
	fi
}

# A raw dialogue that sends a message of N lines of 100 bytes without
# SIZE, so that the space runs out while the data is written.
big_message_script() {
	local n=$1 reply=$2
	echo 'expect 220'; echo 'send EHLO x\r\n'; echo 'expect 250'
	echo 'send MAIL FROM:<a@example.org>\r\n'; echo 'expect 250'
	echo 'send RCPT TO:<alice@localhost>\r\n'; echo 'expect 250'
	echo 'send DATA\r\n'; echo 'expect 354'
	echo 'send Subject: big\r\n\r\n'
	python3 -c "
import sys
line = 'send ' + 'x' * 98 + '\\\\r\\\\n'
for i in range($n):
    print(line)"
	echo 'send .\r\n'; echo "expect $reply"
	echo 'send NOOP\r\n'; echo 'expect 250'
	echo 'send QUIT\r\n'; echo 'expect 221'
}

# No file in the queue but the flush index and locks.
queue_is_clean() {
	local left
	left=$(find "$PH_DIR/queue/incoming" "$PH_DIR/queue/active" \
	    "$PH_DIR/queue/deferred" "$PH_DIR/queue/hold" \
	    "$PH_DIR/queue/maildrop" -type f ! -name '.lock' 2>/dev/null)
	[ -z "$left" ] || { echo "# left in the queue: $left" >&3; return 1; }
}

@test "full queue file system: 452 4.3.1 at the end of DATA, nothing half-written, service resumes by itself" {
	ph_conf queue_minfree 1
	small_fs "$PH_DIR/queue" 4m
	ph_start
	# Room for MAIL, not for the 300 KB that follow.
	fill "$PH_DIR/queue" 64
	big_message_script 3000 "452 4.3.1" > "$PH_DIR/script"
	run ph_smtp < "$PH_DIR/script"
	echo "$output"
	[ "$status" -eq 0 ]
	queue_is_clean
	grep -Eq "queue file write error|cannot create queue file" "$PH_LOG"
	# The server stays up, and takes mail again as soon as there is room.
	rm -f "$PH_DIR/queue/filler"
	big_message_script 3000 "250" > "$PH_DIR/script"
	run ph_smtp < "$PH_DIR/script"
	echo "$output"
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	[ "$(grep -c x "$(ph_mail_file alice)")" -ge 3000 ]
	queue_is_clean
}

@test "full queue file system: a client that announces SIZE gets 452 4.3.1 at MAIL" {
	ph_conf queue_minfree 1
	small_fs "$PH_DIR/queue" 4m
	ph_start
	fill "$PH_DIR/queue" 100
	run ph_smtp <<'EOF'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org> SIZE=500000\r\n
expect 452 4.3.1
send MAIL FROM:<a@example.org> SIZE=1000\r\n
expect 250
send QUIT\r\n
expect 221
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "bytes free in the queue file system" "$PH_LOG"
}

@test "full queue file system: a bounce that cannot be written waits with its original, and goes out when there is room" {
	port=$(ph_free_ports 1)
	ph_conf queue_minfree 1
	ph_conf relayhost "[127.0.0.1]:$port"
	ph_conf maximal_backoff_time 2s
	small_fs "$PH_DIR/queue" 4m
	ph_start
	# Deferred first (nobody listens), then refused for good once the
	# queue's file system is full: the bounce to alice has no room.
	send alice@localhost u@far.test
	wait_log "to=<u@far.test>.*status=deferred"
	fill "$PH_DIR/queue" 0
	ph_sink "$PH_DIR/sink.log" --port "$port" --rcpt "u@far.test=550 5.1.1 no such user"
	wait_log "could not create a bounce; will try again later" 20
	grep -q "bounce .*No space left on device" "$PH_LOG"
	# The original is kept, and no half-written bounce.
	[ "$(ph_queue_files)" -eq 1 ]
	[ "$(ph_count_mail alice)" -eq 0 ]
	rm -f "$PH_DIR/queue/filler"
	ph_wait_mail alice 1 20
	grep -q "550 5.1.1 no such user" "$(ph_mail_file alice)"
	# One bounce, whatever the number of tries.
	sleep 1
	[ "$(ph_count_mail alice)" -eq 1 ]
	queue_is_clean
}

@test "full mailbox file system: delivery is deferred (4.2.2), not bounced; it arrives when there is room" {
	ph_conf queue_minfree 1
	ph_conf maximal_backoff_time 2s
	mkdir -p "$PH_MAIL"
	small_fs "$PH_MAIL" 1m
	ph_start
	fill "$PH_MAIL" 0
	send a@example.org alice@localhost
	wait_log "to=<alice@localhost>.*status=deferred"
	if grep -q "status=bounced" "$PH_LOG"; then false; fi
	grep -E "qmgr.*to=<alice@localhost>.*dsn=4.2.2, status=deferred" "$PH_LOG" |
	    grep -q "No space left on device"
	[ "$(ph_queue_files)" -eq 1 ]
	# Nothing half-written in the Maildir.
	[ -z "$(find "$PH_MAIL" -path '*/Maildir/tmp/*' -type f)" ]
	rm -f "$PH_MAIL/filler"
	# No flush: the next retry finds the room.
	ph_wait_mail alice 1 20
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "full queue file system: sendmail fails loudly (exit 75), leaves no partial maildrop file; pickup takes it once there is room" {
	ph_conf queue_minfree 1
	small_fs "$PH_DIR/queue" 4m
	ph_start
	fill "$PH_DIR/queue" 0
	run sh -c "python3 -c \"print('Subject: big'); print(); print(('x' * 99 + '\\n') * 20000)\" |
	    '$PH_BUILD/bin/sendmail' -C '$PH_CONF' alice"
	echo "$output"
	[ "$status" -eq 75 ]
	[[ "$output" == *"No space left on device"* ]]
	queue_is_clean
	rm -f "$PH_DIR/queue/filler"
	printf 'Subject: small\n\nhi\n' | "$PH_BUILD/bin/sendmail" -C "$PH_CONF" alice
	ph_wait_mail alice 1
	queue_is_clean
}
