#!/usr/bin/env bats
# End to end: SMTP in, Maildir out, with real clients (swaks, smtplib).

load lib

setup_file() {
	:
}

setup() {
	ph_setup
	ph_start
}

teardown() {
	ph_teardown
}

@test "swaks: message lands in alice's Maildir with exact body and added headers" {
	printf 'Line one\nLine two with trailing space \n\nLast line\n' > "$PH_DIR/body"
	run swaks --server 127.0.0.1:$PH_PORT --from sender@example.org \
	    --to alice@localhost --header "Subject: swaks test" \
	    --body "$PH_DIR/body"
	[ "$status" -eq 0 ]
	[[ "$output" == *"250 2.0.0 Ok: queued as "* ]]
	id=$(echo "$output" | sed -n 's/.*queued as \([0-9A-F]*\).*/\1/p')
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	head -n 1 "$f" | grep -qx 'Return-Path: <sender@example.org>'
	sed -n 2p "$f" | grep -qx 'Delivered-To: alice@localhost'
	sed -n 3p "$f" | grep -q "^Received: from "
	grep -q "with ESMTP id $id" "$f"
	grep -qx 'Subject: swaks test' "$f"
	# The body after the header/body separator, byte for byte (LF endings).
	body=$(awk 'p{print} /^$/{p=1}' "$f")
	[ "$body" = "$(cat "$PH_DIR/body")" ]
	if grep -q $'\r' "$f"; then false; fi
	grep -q "$id: to=<alice@localhost>, relay=local, .*status=sent" "$PH_LOG"
	grep -q "$id: from=<sender@example.org>, size=[0-9]*, nrcpt=1" "$PH_LOG"
}

@test "the first copy makes the Maildir; a Maildir that lost new/ and cur/ gets them back" {
	[ ! -e "$PH_MAIL/bob/Maildir" ]
	swaks --server 127.0.0.1:$PH_PORT --from s@example.org --to bob@localhost \
	    --body one >/dev/null
	ph_wait_mail bob 1
	[ -d "$PH_MAIL/bob/Maildir/tmp" ] && [ -d "$PH_MAIL/bob/Maildir/cur" ]
	rm -rf "$PH_MAIL/bob/Maildir/new" "$PH_MAIL/bob/Maildir/cur"
	swaks --server 127.0.0.1:$PH_PORT --from s@example.org --to bob@localhost \
	    --body two >/dev/null
	ph_wait_mail bob 1
	grep -qx two "$(ph_mail_file bob)"
	[ -d "$PH_MAIL/bob/Maildir/cur" ]
	[ -z "$(ls -A "$PH_MAIL/bob/Maildir/tmp")" ]
}

@test "python smtplib: message with 8-bit body arrives intact" {
	run python3 - "$PH_PORT" <<'PY'
import smtplib, sys
msg = ("From: p@example.org\r\nTo: bob@localhost\r\nSubject: smtplib\r\n"
       "\r\nGr\u00fc\u00dfe aus K\u00f6ln\r\nsecond line\r\n").encode("utf-8")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.ehlo("client.example")
    r = s.sendmail("p@example.org", ["bob@localhost"], msg)
    print("refused:", r)
PY
	[ "$status" -eq 0 ]
	[[ "$output" == *"refused: {}"* ]]
	ph_wait_mail bob 1
	f=$(ph_mail_file bob)
	grep -qx 'Return-Path: <p@example.org>' "$f"
	grep -qx 'Delivered-To: bob@localhost' "$f"
	grep -qx 'Grüße aus Köln' "$f"
	tail -n 1 "$f" | grep -qx 'second line'
}

@test "dot-stuffing: lines starting with dots survive the round trip" {
	run python3 - "$PH_PORT" <<'PY'
import smtplib, sys
body = ".leading dot\r\n..two dots\r\n.\r\nend\r\n"
msg = "Subject: dots\r\n\r\n" + body
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.sendmail("d@example.org", ["alice@localhost"], msg)
PY
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	body=$(awk 'p{print} /^$/{p=1}' "$f")
	[ "$body" = $'.leading dot\n..two dots\n.\nend' ]
}

@test "raw dot-stuffed DATA is unstuffed exactly once" {
	run ph_smtp <<'EOF2'
expect 220
send EHLO raw.example\r\n
expect 250
send MAIL FROM:<r@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: raw\r\n\r\n..x\r\n...\r\n. y\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	body=$(awk 'p{print} /^$/{p=1}' "$(ph_mail_file alice)")
	[ "$body" = $'.x\n..\n y' ]
}

@test "100 recipients in one message: one delivery each" {
	# 100 recipients through the aliases: alice and bob, 50 each.
	for i in $(seq 1 50); do
		echo "a$i: alice"; echo "b$i: bob"
	done >> "$PH_CONF/aliases"
	ph_maps		# rebuilt while running: picked up without a restart
	run python3 - "$PH_PORT" <<'PY'
import smtplib, sys
rcpts = [f"a{i}@localhost" for i in range(1, 51)] + \
        [f"b{i}@localhost" for i in range(1, 51)]
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    refused = s.sendmail("many@example.org", rcpts, "Subject: many\r\n\r\nhi\r\n")
print(len(rcpts), "sent, refused:", refused)
PY
	[ "$status" -eq 0 ]
	[[ "$output" == *"100 sent, refused: {}"* ]]
	ph_wait_mail alice 50 20
	ph_wait_mail bob 50 20
	[ "$(ph_count_mail alice)" -eq 50 ]
	[ "$(ph_count_mail bob)" -eq 50 ]
	grep -c "relay=local, .*status=sent" "$PH_LOG" | grep -qx 100
}

@test "20 concurrent clients: every message delivered once" {
	run python3 - "$PH_PORT" <<'PY'
import smtplib, sys, threading
port = int(sys.argv[1])
errors = []
def client(n):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            for k in range(5):
                s.sendmail(f"c{n}@example.org", ["alice@localhost"],
                           f"Subject: c{n} m{k}\r\n\r\nclient {n} message {k}\r\n")
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=client, args=(n,)) for n in range(20)]
[t.start() for t in ts]; [t.join() for t in ts]
print("errors:", errors)
sys.exit(1 if errors else 0)
PY
	[ "$status" -eq 0 ]
	ph_wait_mail alice 100 30
	[ "$(ph_count_mail alice)" -eq 100 ]
	# Each of the 100 distinct bodies exactly once.
	run sh -c "cat '$PH_MAIL'/alice/Maildir/new/* | grep '^client ' | sort -u | wc -l"
	[ "$output" -eq 100 ]
}

@test "postmaster is an alias of alice, with and without a domain" {
	run ph_smtp <<'EOF2'
expect 220
send HELO x\r\n
expect 250
send MAIL FROM:<>\r\n
expect 250
send RCPT TO:<Postmaster>\r\n
expect 250
send RCPT TO:<POSTMASTER@LOCALHOST>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: pm\r\n\r\nhello postmaster\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 2
	# Both copies, and the domain folded to lower case.
	[ "$(cat "$PH_MAIL"/alice/Maildir/new/* | grep -c '^Delivered-To: alice@localhost$')" -eq 2 ]
	[ "$(cat "$PH_MAIL"/alice/Maildir/new/* | grep -c '^Return-Path: <>$')" -eq 2 ]
}

@test "unknown local user: 550 5.1.1 at RCPT, nothing queued" {
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<s@example.org>\r\n
expect 250
send RCPT TO:<nobody-here@localhost>\r\n
expect 550 5.1.1
send DATA\r\n
expect 554
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"550 5.1.1 <nobody-here@localhost>: Recipient address rejected"* ]]
	sleep 0.3
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "mixed recipients: accepted ones are delivered, rejected ones are not" {
	run python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    r = s.sendmail("m@example.org", ["alice@localhost", "ghost@localhost", "bob@localhost"],
                   "Subject: mixed\r\n\r\nx\r\n")
print(sorted(r))
PY
	[ "$status" -eq 0 ]
	[[ "$output" == *"['ghost@localhost']"* ]]
	ph_wait_mail alice 1
	ph_wait_mail bob 1
}

# The delivery children of the local agents (each runs as a mailbox owner).
local_children() {
	local p
	for p in $(pgrep -f -- "-c $PH_CONF -n local "); do
		pgrep -P "$p" || true
	done
}

send_n() {
	python3 - "$PH_PORT" "$1" "$2" <<'PY'
import smtplib, sys
port, n, rcpt = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with smtplib.SMTP("127.0.0.1", port) as s:
    for i in range(n):
        s.sendmail("sender@example.org", [rcpt],
                   "Subject: %d\r\n\r\nbody %d\r\n" % (i, i))
PY
}

@test "local: one delivery child per owner serves its copies in turn; a stopped one is replaced; local_worker_max_use and local_worker_idle_time bound it" {
	ph_stop
	ph_conf local_worker_idle_time 120s
	ph_start
	send_n 12 alice@localhost
	ph_wait_mail alice 12
	# Maildir names carry the writer's pid and its count (P<pid>Q<n>):
	# a child that wrote several copies counts up.
	ls "$PH_MAIL/alice/Maildir/new" | grep -q 'Q[2-9][0-9]*\.'
	[ "$(ls "$PH_MAIL/alice/Maildir/new" | sed 's/.*P\([0-9]*\)Q.*/\1/' | sort -u | wc -l)" -lt 12 ]
	# Each body once, in its own file.
	[ "$(cat "$PH_MAIL"/alice/Maildir/new/* | grep -c '^body ')" -eq 12 ]
	for i in $(seq 0 11); do grep -qx "body $i" "$PH_MAIL"/alice/Maildir/new/*; done
	# Children its owner has stopped are not waited for: fresh ones
	# deliver (well within the 2010 s a delivery may take).
	stopped=$(local_children)
	[ -n "$stopped" ]
	kill -STOP $stopped
	send_n 8 alice@localhost
	ph_wait_mail alice 20
	# Idle children go, and are reaped, within the idle time.
	ph_stop
	ph_conf local_worker_idle_time 2s
	ph_start
	send_n 3 alice@localhost
	ph_wait_mail alice 23
	# No local process waits in accept(2) (syscall 288) for the next job,
	# where it could not reap its children: only in poll.
	sleep 0.5
	for p in $(pgrep -f -- "-c $PH_CONF -n local "); do
		[ "$(cut -d' ' -f1 /proc/$p/syscall 2>/dev/null)" != 288 ]
	done
	for i in $(seq 1 100); do
		[ -z "$(local_children)" ] && break
		sleep 0.1
	done
	[ -z "$(local_children)" ]
	# local_worker_max_use = 1: a child per copy, as in a fork per copy.
	ph_stop
	rm -f "$PH_MAIL"/alice/Maildir/new/*
	ph_conf local_worker_max_use 1
	ph_start
	send_n 6 alice@localhost
	ph_wait_mail alice 6
	[ -z "$(ls "$PH_MAIL/alice/Maildir/new" | grep -v 'Q1\.')" ]
	[ "$(ls "$PH_MAIL/alice/Maildir/new" | sed 's/.*P\([0-9]*\)Q.*/\1/' | sort -u | wc -l)" -eq 6 ]
	[ -z "$(local_children)" ]
}

# maildir_trace: one delivery to alice as strace sees the delivery child
# (forked by a local process after the trace began): the calls on the
# Maildir file and its folders, from its creation to the last flush.
maildir_trace() {
	local st=$PH_DIR/maildir.trace pids="" p i spid
	rm -f "$st.raw"
	# Right after a start, master may not have forked all the local
	# agents (master.conf's four) yet.
	for i in $(seq 1 100); do
		[ "$(pgrep -fc -- "-c $PH_CONF -n local ")" -ge 4 ] && break
		sleep 0.05
	done
	for p in $(pgrep -f -- "-c $PH_CONF -n local "); do
		pids="$pids -p $p"
	done
	strace -f -qq -e trace=openat,renameat2,link,linkat,unlink,unlinkat,fsync,fdatasync \
	    $pids -o "$st.raw" &
	spid=$!
	for p in $(pgrep -f -- "-c $PH_CONF -n local "); do
		for i in $(seq 1 50); do
			grep -q TracerPid:.*[1-9] "/proc/$p/status" && break
			sleep 0.1
		done
	done
	swaks --server 127.0.0.1:$PH_PORT --from s@example.org \
	    --to alice@localhost --body traced >/dev/null
	ph_wait_mail alice 1
	sleep 0.2
	kill "$spid"
	wait "$spid" || true
	# The child's calls from the open of tmp/NAME on (the first copy
	# also makes the folders), without the pids.
	sed -n '/openat(.*Maildir\/tmp\/.*) = [0-9]/,$p' "$st.raw" |
	    grep -E 'Maildir|fsync|fdatasync' | sed 's/^[0-9]* *//'
}

@test "Maildir: renamed from tmp/ into new/, then one fsync; maildir_directory_sync = yes: fsync, link, fsync of new/" {
	run maildir_trace
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == 'openat(AT_FDCWD, "'*'/Maildir/tmp/'*O_CREAT*O_EXCL* ]]
	[[ "${lines[1]}" == 'renameat2(AT_FDCWD, "'*'/Maildir/tmp/'*'/Maildir/new/'*RENAME_NOREPLACE*'= 0' ]]
	[[ "${lines[2]}" == "fsync("*")"*"= 0" ]]
	[ "${#lines[@]}" -eq 3 ]
	grep -qx traced "$(ph_mail_file alice)"
	[ -z "$(ls -A "$PH_MAIL/alice/Maildir/tmp")" ]
	ph_stop
	rm -f "$PH_MAIL"/alice/Maildir/new/*
	ph_conf maildir_directory_sync yes
	ph_start
	run maildir_trace
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == 'openat(AT_FDCWD, "'*'/Maildir/tmp/'*O_CREAT*O_EXCL* ]]
	[[ "${lines[1]}" == "fsync("*")"*"= 0" ]]
	[[ "${lines[2]}" == 'link("'*'/Maildir/tmp/'*'/Maildir/new/'*'= 0' ]]
	[[ "${lines[3]}" == 'unlink("'*'/Maildir/tmp/'* ]]
	[[ "${lines[4]}" == 'openat(AT_FDCWD, "'*'/Maildir/new", '*O_DIRECTORY* ]]
	[[ "${lines[5]}" == "fsync("*")"*"= 0" ]]
	[ "${#lines[@]}" -eq 6 ]
	grep -qx traced "$(ph_mail_file alice)"
}
