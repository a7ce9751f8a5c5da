#!/usr/bin/env bats
# Queue-file confusion by a local user through the maildrop (#9).  The
# user's only way in is posthorn-postdrop, which checks every record;
# pickup trusts nothing it finds in the directory all the same.

load lib

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (other users, setgid)"
	ph_setup
}

teardown() {
	ph_teardown
}

# records: python3 prints a record stream (record.h framing) to stdout
# from the expression in $1, built with rec(type, bytes).
records() {
	python3 -c "
import sys
def rec(t, d):
    return t.encode() + len(d).to_bytes(4, 'big') + d
V = rec('V', b'posthorn-maildrop 1\0')
body = b'Subject: drop\n\nhello\n'
sys.stdout.buffer.write($1)"
}

# postdrop_user STREAM-FILE: feed the stream to postdrop as a local user
# (nobody, through a setgid copy), or as root under a sanitizer, which
# cannot run setgid; the checks are the same.
postdrop_user() {
	if grep -q __asan_init "$PH_BUILD/bin/posthorn-postdrop"; then
		"$PH_BUILD/bin/posthorn-postdrop" -c "$PH_CONF" < "$1"
	else
		su nobody -s /bin/sh -c "'$bin/posthorn-postdrop' < '$1'"
	fi
}

@test "postdrop refuses a forged record stream, record by record, and leaves nothing behind" {
	ph_start
	bin=$PH_DIR/bin
	mkdir -p "$bin"
	cp "$PH_BUILD/bin/posthorn-postdrop" "$bin/"
	chgrp posthorn-drop "$bin/posthorn-postdrop"
	chmod 2755 "$bin/posthorn-postdrop"
	chmod 755 "$bin" "$PH_CONF"
	chmod 644 "$PH_CONF/posthorn.conf"
	# postdrop as nobody must find the one configuration root wrote.
	if ! grep -q __asan_init "$PH_BUILD/bin/posthorn-postdrop"; then
		postdrop_user() {
			su nobody -s /bin/sh -c "'$bin/posthorn-postdrop' -c '$PH_CONF' < '$1'"
		}
	fi
	local -a bad=(
		# the end record is postdrop's to write, not the user's
		"V + rec('R', b'bob\0') + rec('D', body) + rec('E', b'21')"
		# records of the queue file proper
		"V + rec('R', b'bob\0') + rec('T', b'0') + rec('D', body)"
		"V + rec('R', b'bob\0') + rec('I', b'addr=1.2.3.4\0') + rec('D', body)"
		"V + rec('R', b'bob\0') + rec('H', b'') + rec('D', body)"
		# envelope records after the content, or malformed
		"V + rec('D', body) + rec('R', b'alice\0')"
		"V + rec('R', b'bob\nRCPT TO:<x@example.org>\0') + rec('D', body)"
		"V + rec('R', b'bob\0alice\0') + rec('D', body)"
		"V + rec('R', b'bob') + rec('D', body)"
		"V + rec('R', b'b' * 2000 + b'\0') + rec('D', body)"
		# two versions, no version, another version
		"V + V + rec('R', b'bob\0') + rec('D', body)"
		"rec('R', b'bob\0') + rec('D', body)"
		"rec('V', b'posthorn-maildrop 2\0') + rec('R', b'bob\0') + rec('D', body)"
		# a length that lies, a length past any limit, no recipient
		"V + rec('R', b'bob\0') + b'D\x00\x00\x10\x00short'"
		"V + rec('R', b'bob\0') + b'D\xff\xff\xff\xff'"
		"V + rec('D', body)"
	)
	local i=0 s
	for s in "${bad[@]}"; do
		records "$s" > "$PH_DIR/stream.$i"
		chmod 644 "$PH_DIR/stream.$i"
		run postdrop_user "$PH_DIR/stream.$i"
		echo "stream $i: status $status: $output"
		[ "$status" -eq 65 ]
		[ -z "$(ls -A "$PH_DIR/queue/maildrop")" ]
		i=$((i + 1))
	done
	# The same user, well formed: delivered, as itself.
	records "V + rec('R', b'bob\0') + rec('D', body)" > "$PH_DIR/good"
	chmod 644 "$PH_DIR/good"
	run postdrop_user "$PH_DIR/good"
	[ "$status" -eq 0 ]
	ph_wait_mail bob 1
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "pickup sets aside what postdrop never writes: a FIFO, a symbolic link, a hard link, a truncated file, a lying size" {
	ph_start
	md=$PH_DIR/queue/maildrop
	records "V + rec('R', b'bob\0') + rec('D', body) + rec('E', b'21')" > "$PH_DIR/queue/linked"
	cp "$PH_DIR/queue/linked" "$PH_DIR/linked.orig"
	mkfifo "$md/Afifo"
	ln -s /etc/passwd "$md/Asymlink"
	ln "$PH_DIR/queue/linked" "$md/Ahardlink"
	records "V + rec('R', b'bob\0') + rec('D', body)" > "$md/Atruncated"
	records "V + rec('R', b'bob\0') + rec('D', body) + rec('E', b'20')" > "$md/Asize"
	records "V + rec('R', b'bob\0') + rec('D', body) + rec('E', b'21' + b'9' * 40)" > "$md/Ahugesize"
	records "V + rec('R', b'bob\0') + rec('D', body) + rec('E', b'21') + rec('R', b'alice\0')" > "$md/Aafter"
	# A good file, renamed into place as postdrop does: pickup scans.
	records "V + rec('R', b'alice\0') + rec('D', body) + rec('E', b'21')" > "$md/.tmp.good"
	mv "$md/.tmp.good" "$md/Zgood"
	ph_wait_mail alice 1
	for i in $(seq 1 100); do
		[ -z "$(ls -A "$md")" ] && break
		sleep 0.05
	done
	[ -z "$(ls -A "$md")" ]
	for n in Afifo Asymlink Ahardlink; do
		grep -q "maildrop $n: not a plain file: moved to corrupt/maildrop-$n" "$PH_LOG"
	done
	for n in Atruncated Asize Ahugesize Aafter; do
		grep -q "maildrop $n: malformed or incomplete maildrop file: moved to corrupt/maildrop-$n" "$PH_LOG"
	done
	# Nothing of them was delivered; the other link is untouched.
	[ "$(ph_count_mail bob)" -eq 0 ]
	cmp "$PH_DIR/queue/linked" "$PH_DIR/linked.orig"
	[ "$(readlink "$PH_DIR/queue/corrupt/maildrop-Asymlink")" = /etc/passwd ]
	head -c 1 /etc/passwd >/dev/null
}
