#!/usr/bin/env bats
# Local delivery to real system accounts (created here; needs root):
# Maildir and mbox owned by the user, locking, .forward, pipes, files,
# :include:, loops, sysexits, the recipient delimiter, maps rebuilt live.

load lib

U1=phtest-u1
U2=phtest-u2

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	for u in $U1 $U2; do
		id "$u" >/dev/null 2>&1 ||
		    useradd --no-create-home --home-dir "/tmp/$u-home" \
		    --shell /bin/sh "$u"
	done
}

teardown_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	for u in $U1 $U2; do userdel "$u" >/dev/null 2>&1 || true; done
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "creates system accounts: needs root"
	ph_setup
	ph_conf deliver_to_system_accounts yes
	mkdir -m 1777 "$PH_DIR/spool" "$PH_DIR/out"
	ph_conf mail_spool_directory "$PH_DIR/spool"
	for u in $U1 $U2; do
		rm -rf "/tmp/$u-home"
		mkdir -m 755 "/tmp/$u-home"
		chown "$u:" "/tmp/$u-home"
	done
}

teardown() {
	ph_teardown
	for u in $U1 $U2; do rm -rf "/tmp/$u-home"; done
}

send() {	# send FROM TO BODY
	python3 - "$PH_PORT" "$@" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail(sys.argv[2], [sys.argv[3]],
               f"Subject: acct\r\n\r\n{sys.argv[4]}\r\n")
PY
}

wait_file() {	# wait_file PATH [SECONDS]
	local i
	for i in $(seq 1 $(( ${2:-10} * 20 ))); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

wait_log() {	# wait_log REGEX [SECONDS]
	local i
	for i in $(seq 1 $(( ${2:-10} * 20 ))); do
		grep -Eq "$1" "$PH_LOG" && return 0
		sleep 0.05
	done
	return 1
}

@test "mbox in the spool: created and owned by the user, From line, >From quoting" {
	ph_start
	send s@example.org "$U1@localhost" $'first line\r\nFrom the start\r\n>From quoted'
	mb=$PH_DIR/spool/$U1
	wait_file "$mb"
	wait_log "to=<$U1@localhost>, relay=local, .*status=sent"
	[ "$(stat -c %U "$mb")" = "$U1" ]
	[ "$(stat -c %a "$mb")" = 600 ]
	head -n 1 "$mb" | grep -q '^From s@example.org '
	grep -qx '>From the start' "$mb"
	grep -qx '>>From quoted' "$mb"
	grep -qx "Delivered-To: $U1@localhost" "$mb"
	[ -z "$(tail -n 1 "$mb")" ]
	[ ! -e "$mb.lock" ]
}

@test "Maildir in the home directory with home_mailbox = Maildir/" {
	ph_conf home_mailbox Maildir/
	ph_start
	send s@example.org "$U2@localhost" "to my maildir"
	for i in $(seq 1 100); do
		ls "/tmp/$U2-home/Maildir/new/"* >/dev/null 2>&1 && break
		sleep 0.05
	done
	f=$(ls "/tmp/$U2-home/Maildir/new/"*)
	[ "$(stat -c %U "$f")" = "$U2" ]
	grep -q "to my maildir" "$f"
}

@test "concurrent mbox deliveries are serialised by the locks" {
	ph_start
	python3 - "$PH_PORT" "$U1" <<'PY'
import smtplib, sys, threading
def one(n):
    with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
        s.sendmail("c@example.org", [sys.argv[2] + "@localhost"],
                   f"Subject: c{n}\r\n\r\n" + f"message {n} line\r\n" * 200)
ts = [threading.Thread(target=one, args=(n,)) for n in range(20)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
	for i in $(seq 1 200); do
		[ "$(grep -c '^From c@example.org ' "$PH_DIR/spool/$U1" 2>/dev/null)" -eq 20 ] && break
		sleep 0.05
	done
	[ "$(grep -c '^From c@example.org ' "$PH_DIR/spool/$U1")" -eq 20 ]
	# Every message whole: 200 lines each, none interleaved.
	for n in $(seq 0 19); do
		[ "$(grep -c "^message $n line\$" "$PH_DIR/spool/$U1")" -eq 200 ]
	done
	python3 - "$PH_DIR/spool/$U1" <<'PY'
import mailbox, sys
msgs = list(mailbox.mbox(sys.argv[1]))
assert len(msgs) == 20, len(msgs)
for m in msgs:
    body = m.get_payload()
    lines = set(body.splitlines())
    assert len(lines) == 1, lines
PY
}

@test "a held dot-lock makes delivery wait, then it proceeds" {
	ph_start
	touch "$PH_DIR/spool/$U1.lock"
	send s@example.org "$U1@localhost" "after the lock"
	sleep 1.5
	[ ! -s "$PH_DIR/spool/$U1" ]
	rm -f "$PH_DIR/spool/$U1.lock"
	wait_file "$PH_DIR/spool/$U1" 10
	grep -q "after the lock" "$PH_DIR/spool/$U1"
}

@test ".forward to another user and to a command, run as the user" {
	printf '%s\n"|/usr/bin/env > %s/env.txt; cat > %s/piped.txt"\n' \
	    "$U2" "$PH_DIR/out" "$PH_DIR/out" > "/tmp/$U1-home/.forward"
	chown "$U1:" "/tmp/$U1-home/.forward"
	ph_start
	send s@example.org "$U1+tag@localhost" "forwarded"
	wait_file "$PH_DIR/spool/$U2"
	wait_file "$PH_DIR/out/piped.txt"
	grep -q forwarded "$PH_DIR/spool/$U2"
	grep -q forwarded "$PH_DIR/out/piped.txt"
	[ "$(stat -c %U "$PH_DIR/out/piped.txt")" = "$U1" ]
	grep -qx "USER=$U1" "$PH_DIR/out/env.txt"
	grep -qx "EXTENSION=tag" "$PH_DIR/out/env.txt"
	grep -qx "SENDER=s@example.org" "$PH_DIR/out/env.txt"
	grep -qx "ORIGINAL_RECIPIENT=$U1+tag@localhost" "$PH_DIR/out/env.txt"
	[ ! -e "$PH_DIR/spool/$U1" ]
}

@test "a .forward writable by others is ignored" {
	echo "$U2" > "/tmp/$U1-home/.forward"
	chown "$U1:" "/tmp/$U1-home/.forward"
	chmod 666 "/tmp/$U1-home/.forward"
	ph_start
	send s@example.org "$U1@localhost" "not forwarded"
	wait_file "$PH_DIR/spool/$U1"
	[ ! -e "$PH_DIR/spool/$U2" ]
	grep -q "\.forward ignored" "$PH_LOG"
}

@test "alias lists with :include:, owner- and duplicates removed" {
	printf '%s\n%s, %s\n' "$U1" "$U2" "$U1" > "$PH_DIR/list.txt"
	chmod 644 "$PH_DIR/list.txt"
	printf 'staff: :include:%s, %s\nowner-staff: %s\n' "$PH_DIR/list.txt" \
	    "$U2" "$U1" >> "$PH_CONF/aliases"
	ph_start
	send s@example.org staff@localhost "to the list"
	wait_file "$PH_DIR/spool/$U1"
	wait_file "$PH_DIR/spool/$U2"
	sleep 0.3
	[ "$(grep -c '^From ' "$PH_DIR/spool/$U1")" -eq 1 ]
	[ "$(grep -c '^From ' "$PH_DIR/spool/$U2")" -eq 1 ]
	# List mail carries the owner as its envelope sender.
	grep -q "^Return-Path: <owner-staff@localhost>" "$PH_DIR/spool/$U1"
}

@test "an alias loop bounces with 5.4.6 instead of spinning" {
	printf 'loopa: loopb\nloopb: loopc\nloopc: loopa\n' >> "$PH_CONF/aliases"
	ph_start
	send "$U2@localhost" loopa@localhost "round and round"
	wait_file "$PH_DIR/spool/$U2"
	grep -q '5.4.6 alias loop' "$PH_DIR/spool/$U2"
}

@test "a command that exits 75 is deferred, 67 is bounced as 5.1.1" {
	printf 'tempfail: "|exit 75"\nnouser: "|exit 67"\n' >> "$PH_CONF/aliases"
	ph_start
	send "$U2@localhost" tempfail@localhost "later"
	send "$U2@localhost" nouser@localhost "never"
	wait_log "to=<tempfail@localhost>, relay=local, .*status=deferred \\(command exited with status 75"
	wait_file "$PH_DIR/spool/$U2"
	grep -q '<nouser@localhost>: 5.1.1 command exited with status 67' "$PH_DIR/spool/$U2"
	[ "$(find "$PH_DIR/queue/deferred" -type f | wc -l)" -eq 1 ]
}

@test "a command over command_time_limit is killed and deferred" {
	ph_conf command_time_limit 1s
	printf 'slow: "|sleep 30"\n' >> "$PH_CONF/aliases"
	ph_start
	send s@example.org slow@localhost "slow"
	wait_log "to=<slow@localhost>, relay=local, .*status=deferred \\(command .*time limit of 1s exceeded" 10
	# -x: the whole command line, not any "sleep 300" on the machine
	if pgrep -x -f "sleep 30" >/dev/null; then false; fi
}

@test "alias commands run as default_privs, alias files likewise" {
	printf 'tofile: %s/file.mbox\ntocmd: "|id -un > %s/who.txt"\n' \
	    "$PH_DIR/out" "$PH_DIR/out" >> "$PH_CONF/aliases"
	ph_start
	send s@example.org tofile@localhost "into a file"
	send s@example.org tocmd@localhost "who"
	wait_file "$PH_DIR/out/file.mbox"
	wait_file "$PH_DIR/out/who.txt"
	grep -q "into a file" "$PH_DIR/out/file.mbox"
	[ "$(cat "$PH_DIR/out/who.txt")" = nobody ]
}

@test "mail to commands can be forbidden by allow_mail_to_commands" {
	ph_conf allow_mail_to_commands forward
	printf 'tocmd: "|touch %s/ran"\n' "$PH_DIR/out" >> "$PH_CONF/aliases"
	ph_start
	send "$U2@localhost" tocmd@localhost "no commands"
	wait_file "$PH_DIR/spool/$U2"
	grep -q '5.7.1 mail to commands is not allowed from alias entries' "$PH_DIR/spool/$U2"
	[ ! -e "$PH_DIR/out/ran" ]
}

@test "root is reached only through an alias; unknown users get 550" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<s@example.org>\r\n
expect 250
send RCPT TO:<root@localhost>\r\n
expect 550 5.1.1
send RCPT TO:<no-such-user-here@localhost>\r\n
expect 550 5.1.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_stop
	echo "root: $U1" >> "$PH_CONF/aliases"
	ph_start
	send s@example.org root@localhost "for root"
	wait_file "$PH_DIR/spool/$U1"
	grep -q "for root" "$PH_DIR/spool/$U1"
}

@test "a rebuilt hash map is used at once; a corrupt one is named in the log" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<s@example.org>\r\n
expect 250
send RCPT TO:<newalias@localhost>\r\n
expect 550 5.1.1
send QUIT\r\n
expect 221
EOF2
	echo "newalias: $U2" >> "$PH_CONF/aliases"
	"$PH_BUILD/bin/newaliases" -c "$PH_CONF"
	send s@example.org newalias@localhost "via the rebuilt map"
	wait_file "$PH_DIR/spool/$U2"
	# A corrupt replacement: the running processes keep the old map and
	# say which map is broken.
	echo "garbage" > "$PH_CONF/aliases.db.new"
	mv "$PH_CONF/aliases.db.new" "$PH_CONF/aliases.db"
	send s@example.org newalias@localhost "old map kept"
	wait_log "map hash:$PH_CONF/aliases: .*cannot open database.*keeping the old contents"
	# At start, a corrupt map is a clear fatal error naming it.
	ph_stop
	run "$PH_LIBEXEC/qmgr" -c "$PH_CONF" -f 3</dev/null
	[ "$status" -ne 0 ]
	[[ "$output" == *"alias_map: map hash:$PH_CONF/aliases: "*"cannot open database"* ]]
}

@test "an :include: file that includes itself is cut, not followed forever" {
	printf ':include:%s/self.txt\n%s\n' "$PH_DIR" "$U1" > "$PH_DIR/self.txt"
	chmod 644 "$PH_DIR/self.txt"
	printf 'selfish: :include:%s/self.txt\n' "$PH_DIR" >> "$PH_CONF/aliases"
	ph_start
	send "$U2@localhost" selfish@localhost "self include"
	wait_file "$PH_DIR/spool/$U1"
	wait_file "$PH_DIR/spool/$U2"
	grep -q "includes itself" "$PH_DIR/spool/$U2"
	[ -n "$(ph_pid_of local)" ]
}

@test "a .forward whose only target was already reached adds no copy" {
	printf '%s\n' "$U2" > "/tmp/$U1-home/.forward"
	chown "$U1:" "/tmp/$U1-home/.forward"
	printf 'both: %s, %s\n' "$U2" "$U1" >> "$PH_CONF/aliases"
	ph_start
	send s@example.org both@localhost "once each"
	wait_file "$PH_DIR/spool/$U2"
	sleep 0.5
	[ "$(grep -c '^From ' "$PH_DIR/spool/$U2")" -eq 1 ]
	[ ! -e "$PH_DIR/spool/$U1" ]
}

@test "a .forward cannot make root read a file: :include: is read as the user" {
	echo ":include:/etc/shadow" > "/tmp/$U1-home/.forward"
	chown "$U1:" "/tmp/$U1-home/.forward"
	ph_start
	send "$U1@localhost" "$U1@localhost" "peek"
	wait_log "to=<$U1@localhost>, relay=local, .*status=deferred \\(:include:/etc/shadow: Permission denied"
	if grep -rq 'root:' "$PH_DIR/spool" 2>/dev/null; then false; fi
	if grep -q 'unknown user: root' "$PH_LOG"; then false; fi
}

@test "a delivery child stopped by its user does not wedge local" {
	ph_conf command_time_limit 1s
	printf '"|kill -STOP $PPID; sleep 60"\n' > "/tmp/$U1-home/.forward"
	chown "$U1:" "/tmp/$U1-home/.forward"
	ph_start
	send s@example.org "$U1@localhost" "stop"
	wait_log "to=<$U1@localhost>, relay=local, .*status=deferred" 30
	# local is free again: other mail flows.
	send s@example.org "$U2@localhost" "still flowing"
	wait_file "$PH_DIR/spool/$U2" 10
	pkill -KILL -u "$U1" || true
}

@test "mbox: a From line cut across two queue records is still quoted" {
	ph_start
	for pad in 0 1 2 3 4 5 6; do
		python3 - "$PH_PORT" "$U1" "$pad" <<'PY'
import smtplib, sys
port, user, pad = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = "From a\r\n" * 12000
msg = f"Subject: {'x' * pad}\r\n\r\n" + body
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.sendmail("s@example.org", [user + "@localhost"], msg)
PY
	done
	for i in $(seq 1 200); do
		[ "$(grep -c '^>From a$' "$PH_DIR/spool/$U1" 2>/dev/null)" -eq 84000 ] && break
		sleep 0.05
	done
	# Only the 7 real separators start with "From "; every body line quoted.
	[ "$(grep -c '^From ' "$PH_DIR/spool/$U1")" -eq 7 ]
	[ "$(grep -c '^>From a$' "$PH_DIR/spool/$U1")" -eq 84000 ]
}

@test "shell metacharacters in the envelope reach a command only as data (compare CVE-2020-7247)" {
	printf 'tocmd: "|/usr/bin/env > %s/env.txt"\n' "$PH_DIR/out" >> "$PH_CONF/aliases"
	ph_start
	# Short: a local part has at most 64 octets.
	pwn=/tmp/phpwn$$
	rm -f "$pwn"
	send "\"\$(touch $pwn)\`touch $pwn\`\"@example.org" \
	    "\"tocmd+;touch $pwn;\"@localhost" "metachars"
	wait_file "$PH_DIR/out/env.txt"
	cat "$PH_DIR/out/env.txt"
	grep -qF "SENDER=\"\$(touch $pwn)\`touch $pwn\`\"@example.org" "$PH_DIR/out/env.txt"
	grep -qF ";touch $pwn;" "$PH_DIR/out/env.txt"
	sleep 0.5
	[ ! -e "$pwn" ]
}
