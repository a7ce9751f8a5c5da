#!/usr/bin/env bats
# The queue: deferral and retry, bounces, crash recovery, half-sent mail.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

send_from() {	# send_from SENDER RCPT TEXT
	python3 - "$PH_PORT" "$@" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.sendmail(sys.argv[2], [sys.argv[3]],
               f"Subject: q\r\nMessage-ID: <{sys.argv[4].replace(' ', '.')}@test>\r\n\r\n{sys.argv[4]}\r\n")
PY
}

# Make alice's mailbox unwritable for the delivery user.
block_alice() {
	mkdir -p "$PH_MAIL/alice"
	chmod 000 "$PH_MAIL/alice"
	if [ "$(id -u)" -eq 0 ]; then chown root:root "$PH_MAIL/alice"; fi
}

unblock_alice() {
	chmod 755 "$PH_MAIL/alice"
	if [ "$(id -u)" -eq 0 ]; then chown posthorn-vmail: "$PH_MAIL/alice"; fi
}

@test "a temporary failure is deferred, retried with back-off and then delivered" {
	ph_conf minimal_backoff_time 1s
	ph_conf queue_run_delay 1s
	ph_start
	block_alice
	send_from s@example.org alice@localhost "deferred then delivered"
	for i in $(seq 1 60); do
		grep -q "status=deferred" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "to=<alice@localhost>, relay=local, .*dsn=4.2.0, status=deferred" "$PH_LOG"
	[ "$(find "$PH_DIR/queue/deferred" -type f | wc -l)" -eq 1 ]
	unblock_alice
	ph_wait_mail alice 1 15
	grep -q "deferred then delivered" "$(ph_mail_file alice)"
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "a permanent failure bounces to the sender with the reason and the message" {
	echo "broken: |/bin/false" >> "$PH_CONF/aliases"
	ph_start
	send_from bob@localhost broken@localhost "this will bounce"
	ph_wait_mail bob 1
	f=$(ph_mail_file bob)
	grep -qx 'Return-Path: <>' "$f"
	grep -q '^From: MAILER-DAEMON@' "$f"
	grep -q '^Subject: Undelivered Mail Returned to Sender' "$f"
	grep -q '<broken@localhost>: 5.3.0 command exited with status 1' "$f"
	grep -q 'this will bounce' "$f"
	grep -q "to=<broken@localhost>, relay=local, .*status=bounced" "$PH_LOG"
	sleep 0.3
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "no bounce of a bounce: undeliverable mail from <> goes to postmaster once, never loops" {
	echo "broken: |/bin/false" >> "$PH_CONF/aliases"
	ph_start
	send_from "" broken@localhost "null sender"
	# postmaster (alice) gets the double bounce, with the failure in it.
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	grep -q '^Subject: Undelivered Mail Returned to Sender (double bounce)' "$f"
	grep -q '<broken@localhost>: 5.3.0' "$f"
	grep -q "postmaster non-delivery notification" "$PH_LOG"
	sleep 0.3
	[ "$(ph_queue_files)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 1 ]
}

@test "a double bounce that cannot be delivered is discarded, and nothing loops" {
	echo "broken: |/bin/false" >> "$PH_CONF/aliases"
	sed -i 's/^postmaster:.*/postmaster: broken/' "$PH_CONF/aliases"
	ph_maps
	ph_start
	send_from "" broken@localhost "null sender"
	for i in $(seq 1 100); do
		grep -q "discarded" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "undeliverable mail from <> discarded" "$PH_LOG"
	sleep 0.5
	[ "$(grep -c 'postmaster non-delivery notification' "$PH_LOG")" -eq 1 ]
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "notify_double_bounce = no: a failed bounce is only logged" {
	ph_conf notify_double_bounce no
	echo "broken: |/bin/false" >> "$PH_CONF/aliases"
	ph_start
	send_from "" broken@localhost "null sender"
	for i in $(seq 1 60); do
		grep -q "discarded" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "undeliverable mail from <> discarded" "$PH_LOG"
	[ "$(ph_queue_files)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 0 ]
}

@test "an expired message bounces after maximal_queue_lifetime" {
	ph_conf maximal_queue_lifetime 2s
	ph_conf minimal_backoff_time 1s
	ph_conf queue_run_delay 1s
	ph_start
	block_alice
	send_from bob@localhost alice@localhost "expires"
	ph_wait_mail bob 1 20
	grep -q '4.4.7' "$(ph_mail_file bob)"
	grep -q "status=expired" "$PH_LOG"
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "crash of everything: a committed message is delivered at the next start" {
	ph_start
	block_alice
	send_from s@example.org alice@localhost "survives a full crash"
	for i in $(seq 1 60); do
		grep -q "status=deferred" "$PH_LOG" && break
		sleep 0.05
	done
	# kill -9 every process of the instance, master included.
	kill -KILL "$PH_MASTER"
	ph_kill_children
	wait "$PH_MASTER" 2>/dev/null || true
	PH_MASTER=
	unblock_alice
	# Move it back to active so it need not wait for its retry time.
	for f in $(find "$PH_DIR/queue/deferred" -type f); do
		mv "$f" "$PH_DIR/queue/active/$(basename "$(dirname "$f")")/"
	done
	ph_start
	ph_wait_mail alice 1
	grep -q "survives a full crash" "$(ph_mail_file alice)"
}

@test "recovery discards unacknowledged incoming files and quarantines corrupt ones" {
	ph_start
	ph_stop
	# A half-written file (no END record) as a crash would leave it.
	printf '\x56\x00\x00\x00\x10posthorn-queue 1' > "$PH_DIR/queue/incoming/0/6B05B00000000000"
	# Garbage in active/.
	printf 'garbage' > "$PH_DIR/queue/active/0/6B05B00000001000"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R posthorn-queue "$PH_DIR/queue/incoming" "$PH_DIR/queue/active"
	fi
	ph_start
	for i in $(seq 1 60); do
		[ -f "$PH_DIR/queue/corrupt/6B05B00000001000" ] && break
		sleep 0.05
	done
	[ ! -e "$PH_DIR/queue/incoming/0/6B05B00000000000" ]
	grep -q "6B05B00000000000: discarding unfinished incoming file" "$PH_LOG"
	[ -f "$PH_DIR/queue/corrupt/6B05B00000001000" ]
	grep -q "6B05B00000001000: corrupt queue file" "$PH_LOG"
}

@test "a client that vanishes mid-DATA leaves nothing in the queue" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<v@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: half\r\n\r\nthis message never ends\r\n
close
EOF2
	[ "$status" -eq 0 ]
	for i in $(seq 1 40); do
		grep -q "lost connection after DATA" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "lost connection after DATA" "$PH_LOG"
	sleep 0.2
	[ "$(ph_queue_files)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 0 ]
}

@test "no queue manager: MAIL gets 451 4.3.0, the client keeps its message" {
	sed -i '/^qmgr /d' "$PH_CONF/master.conf"
	"$PH_LIBEXEC/master" -f -c "$PH_CONF" >>"$PH_LOG" 2>&1 &
	PH_MASTER=$!
	ph_wait_listen "$PH_PORT"
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<d@example.org>\r\n
expect 451 4.3.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	grep -q "connect to private/qmgr" "$PH_LOG"
}

@test "150 messages ending at once: commits that span all 16 active/ folders, every message answered 250 and delivered once" {
	ph_start
	python3 - "$PH_PORT" <<'PY'
import socket, sys, threading
port = int(sys.argv[1])
n = 150
barrier = threading.Barrier(n)
codes = []
lock = threading.Lock()
def client(i):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    def reply():
        while True:
            l = f.readline()
            if l[3:4] != b"-":
                return l
    assert reply().startswith(b"220")
    s.sendall(b"HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n")
    for want in (b"250", b"250", b"250", b"354"):
        assert reply().startswith(want)
    s.sendall(b"Subject: batch %d\r\n\r\nbody\r\n" % i)
    barrier.wait()
    s.sendall(b".\r\n")
    r = reply()
    with lock:
        codes.append(r[:3])
    s.sendall(b"QUIT\r\n")
ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
assert codes == [b"250"] * n, codes
PY
	ph_wait_mail alice 150 60
	grep -c "^Subject: batch" "$PH_MAIL"/alice/Maildir/new/* | grep -vc ":1$" | grep -q "^0$"
}

# commit_trace: the queue manager's commit of one message, as strace
# sees it (all its threads): renames, flushes, folder opens and the OK to
# smtpd.
commit_trace() {
	local qpid st=$PH_DIR/commit.trace
	qpid=$(ph_pid_of qmgr)
	# -f: every thread (the fsyncs run in commit threads).
	strace -f -qq -e trace=renameat2,fsync,fdatasync,openat,sendto \
	    -p "$qpid" -o "$st.raw" &
	local spid=$!
	for i in $(seq 1 50); do
		grep -q TracerPid:.*[1-9] "/proc/$qpid/status" && break
		sleep 0.1
	done
	send_from s@example.org alice@localhost "commit trace"
	ph_wait_mail alice 1
	kill "$spid"
	wait "$spid" || true
	sed 's/^[0-9]* *//' "$st.raw" > "$st"
	# From the rename into active/ to the OK (K record) for this message.
	# (A file taken from free/ was renamed into incoming/ before that.)
	id=$(sed -n 's/^renameat2(AT_FDCWD, "incoming\/.\/\([0-9A-F]*\)".*/\1/p' "$st" | head -n 1)
	[ -n "$id" ]
	sed -n "/^renameat2(AT_FDCWD, \"incoming.*$id/,/sendto(.*$id/p" "$st"
}

@test "commit: rename into active/, one fsync of the file, then 250; queue_directory_sync = yes adds the folder's fsync" {
	ph_start
	run commit_trace
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == renameat2*'"active/'*RENAME_NOREPLACE* ]]
	[[ "${lines[1]}" == "fsync("*")"*"= 0" ]]
	[[ "${lines[-1]}" == sendto* ]]
	[ "${#lines[@]}" -eq 3 ]
	ph_stop
	rm -f "$PH_MAIL"/alice/Maildir/new/*
	ph_conf queue_directory_sync yes
	ph_start
	run commit_trace
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == renameat2*'"active/'*RENAME_NOREPLACE* ]]
	[[ "${lines[1]}" == "fsync("*")"*"= 0" ]]
	[[ "${lines[2]}" == 'openat(AT_FDCWD, "active/'?'", '*O_DIRECTORY* ]]
	[[ "${lines[3]}" == "fsync("*")"*"= 0" ]]
	[[ "${lines[-1]}" == sendto* ]]
}

# free_files: the queue files kept for reuse (queue/free/), one per line.
free_files() {
	find "$PH_DIR/queue/free" -type f -printf '%i %f\n' | sort
}

# wait_pooled: until free/ holds a file (qmgr moves it there once the
# agent has reported, a little after the copy shows in the Maildir).
wait_pooled() {
	for i in $(seq 1 50); do [ -n "$(free_files)" ] && break; sleep 0.1; done
}

@test "recycling: a delivered message's file waits in free/ and the next message is written over it, without the old bytes" {
	ph_start
	python3 - "$PH_PORT" <<'PY'
import smtplib, sys
body = "".join("long line %05d OLDTAIL\r\n" % i for i in range(800))
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.sendmail("s@example.org", ["alice@localhost"], "Subject: long\r\n\r\n" + body)
PY
	ph_wait_mail alice 1
	wait_pooled
	run free_files
	[ "${#lines[@]}" -eq 1 ]
	old=${lines[0]}
	# Over 16 KiB: the long message's file.
	[ "$(stat -c %s "$PH_DIR/queue/free/${old#* }")" -gt 16384 ]
	rm -f "$PH_MAIL"/alice/Maildir/new/*
	send_from s@example.org alice@localhost "short one"
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	grep -qx "short one" "$f"
	if grep -q OLDTAIL "$f"; then false; fi
	id=$(sed -n 's/.*with ESMTP id \([0-9A-F]*\).*/\1/p' "$f")
	grep -q "$id: removed" "$PH_LOG"
	# The same inode went round: taken, cut to the short message, back.
	wait_pooled
	run free_files
	[ "${#lines[@]}" -eq 1 ]
	[ "${lines[0]%% *}" = "${old%% *}" ]
	[ "${lines[0]#* }" = "$id" ]
	[ "$(stat -c %s "$PH_DIR/queue/free/$id")" -lt 4096 ]
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "recycling: a deferred message is unlinked, never reused; the pool outlives a restart; queue_file_recycle_limit = 0 keeps none" {
	ph_conf minimal_backoff_time 1s
	ph_conf queue_run_delay 1s
	ph_start
	send_from s@example.org alice@localhost "first"
	ph_wait_mail alice 1
	wait_pooled
	pooled=$(free_files)
	[ -n "$pooled" ]
	# The second message takes the pooled file, is deferred, and so is
	# unlinked when it is finally delivered: free/ is then empty.
	block_alice
	send_from s@example.org alice@localhost "deferred"
	for i in $(seq 1 60); do
		grep -q "status=deferred" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "status=deferred" "$PH_LOG"
	[ -z "$(free_files)" ]
	unblock_alice
	ph_wait_mail alice 2 15
	sleep 0.5
	[ -z "$(free_files)" ]
	[ "$(ph_queue_files)" -eq 0 ]
	# A fresh file for the next one; it is pooled, and kept over a restart.
	send_from s@example.org alice@localhost "third"
	ph_wait_mail alice 3
	wait_pooled
	pooled=$(free_files)
	[ -n "$pooled" ]
	ph_stop
	[ "$(free_files)" = "$pooled" ]
	ph_start
	send_from s@example.org alice@localhost "fourth"
	ph_wait_mail alice 4
	for i in $(seq 1 50); do [ "$(free_files)" != "$pooled" ] && break; sleep 0.1; done
	# The same inode, under the fourth message's name.
	[ "$(free_files | cut -d' ' -f1)" = "${pooled%% *}" ]
	[ "$(free_files)" != "$pooled" ]
	ph_stop
	ph_conf queue_file_recycle_limit 0
	ph_start
	send_from s@example.org alice@localhost "fifth"
	ph_wait_mail alice 5
	sleep 0.5
	# At start the pool over the limit (all of it) is unlinked.
	[ -z "$(free_files)" ]
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "recycling: a message with a deferred recipient is never pooled, even when that first attempt also ends it" {
	# The attempt outlasts maximal_queue_lifetime (0): the deferral
	# expires at once, and the message is removed after one attempt.
	printf 'slowfail: "|sleep 1.5; exit 75"\n' >> "$PH_CONF/aliases"
	ph_conf maximal_queue_lifetime 0
	ph_start
	send_from bob@localhost slowfail@localhost "expires at once"
	ph_wait_mail bob 1 20
	id=$(sed -n 's/.*: \([0-9A-F]*\): to=<slowfail@localhost>.*status=expired.*/\1/p' "$PH_LOG" | head -n 1)
	[ -n "$id" ]
	grep -q "$id: removed" "$PH_LOG"
	if grep -q "qmgr.*$id: .*status=deferred" "$PH_LOG"; then false; fi
	sleep 0.5
	# Neither the message nor its bounce (not taken in by intake) went to
	# free/: an agent that deferred may still have held the file.
	[ -z "$(free_files)" ]
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "recycling: a pooled file with a second name (as a crash can leave) is never written over" {
	ph_start
	send_from s@example.org alice@localhost "first"
	ph_wait_mail alice 1
	wait_pooled
	old=$(free_files)
	[ -n "$old" ]
	ph_stop
	ln "$PH_DIR/queue/free/${old#* }" "$PH_DIR/queue/corrupt/second-name"
	cp "$PH_DIR/queue/corrupt/second-name" "$PH_DIR/before"
	ph_start
	send_from s@example.org alice@localhost "second"
	ph_wait_mail alice 2
	grep -q "recycled queue file .*: not a plain file with one name; not used" "$PH_LOG"
	# The other name still holds the first message, untouched.
	cmp "$PH_DIR/before" "$PH_DIR/queue/corrupt/second-name"
	grep -qx second "$(ph_mail_file alice)"
	[ "$(stat -c %h "$PH_DIR/queue/corrupt/second-name")" -eq 1 ]
}

# qmgr's open sockets: its listeners and the channels smtpd keeps.
qmgr_sockets() {
	ls -l "/proc/$(ph_pid_of qmgr)/fd" 2>/dev/null | grep -c 'socket:' || true
}

# wait_qmgr_sockets N: until qmgr has N sockets open (5 s at most).
wait_qmgr_sockets() {
	local i
	for i in $(seq 1 100); do
		[ "$(qmgr_sockets)" -eq "$1" ] && return 0
		sleep 0.05
	done
	echo "qmgr has $(qmgr_sockets) sockets, expected $1" >&2
	return 1
}

@test "smtpd keeps its channel to qmgr for the next transaction; smtpd_qmgr_idle_channels = 0 keeps none" {
	ph_start
	base=$(qmgr_sockets)
	for i in 1 2 3; do send_from s@example.org alice@localhost "kept $i"; done
	ph_wait_mail alice 3
	# One channel served the three sessions, one after another, and
	# stays open for the next.
	wait_qmgr_sockets $((base + 1))
	send_from s@example.org alice@localhost "kept 4"
	ph_wait_mail alice 4
	wait_qmgr_sockets $((base + 1))
	ph_stop
	ph_conf smtpd_qmgr_idle_channels 0
	ph_start
	base=$(qmgr_sockets)
	for i in 5 6; do send_from s@example.org alice@localhost "kept $i"; done
	ph_wait_mail alice 6
	wait_qmgr_sockets "$base"
	sleep 0.3
	[ "$(qmgr_sockets)" -eq "$base" ]
}

@test "a kept channel: a transaction ended by RSET, a refused recipient or a refused DATA leaves nothing behind" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send RSET\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<nosuchuser@localhost>\r\n
expect 550
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: nul\r\n\r\nbad\x00byte\r\n.\r\n
expect 554
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: third\r\n\r\nthird transaction\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	send_from s@example.org alice@localhost "next session"
	ph_wait_mail alice 2
	sleep 0.3
	[ "$(ph_count_mail alice)" -eq 2 ]
	grep -l "third transaction" "$PH_MAIL"/alice/Maildir/new/*
	grep -l "next session" "$PH_MAIL"/alice/Maildir/new/*
	[ "$(ph_queue_files)" -eq 0 ]
	[ -z "$(find "$PH_DIR/queue/incoming" -type f)" ]
	if grep -q "intake: \|lost connection to the queue manager" "$PH_LOG"; then false; fi
}

@test "a kept channel to a queue manager that died is not used: the next message is accepted" {
	ph_start
	send_from s@example.org alice@localhost "before"
	ph_wait_mail alice 1
	old=$(ph_pid_of qmgr)
	kill -KILL "$old"
	for i in $(seq 1 100); do
		new=$(ph_pid_of qmgr)
		[ -n "$new" ] && [ "$new" != "$old" ] && break
		sleep 0.05
	done
	[ -n "$new" ] && [ "$new" != "$old" ]
	send_from s@example.org alice@localhost "after"
	ph_wait_mail alice 2
	if grep -q "lost connection to the queue manager" "$PH_LOG"; then false; fi
}
