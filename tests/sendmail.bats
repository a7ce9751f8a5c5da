#!/usr/bin/env bats
# sendmail(1): local submission through postdrop, the maildrop and pickup.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

sm() {
	"$PH_BUILD/bin/sendmail" -C "$PH_CONF" "$@"
}

# mail_of USER: the newest message in USER's Maildir.
mail_of() {
	ls -t "$PH_MAIL/$1/Maildir/new/"* | head -n 1 | xargs cat
}

@test "sendmail RCPT...: delivered, with Received (userid), From, Date and Message-ID added; a lone dot ends it" {
	ph_start
	printf 'Subject: from cron\n\nline one\n.\nnot sent\n' | sm alice
	ph_wait_mail alice 1
	run mail_of alice
	echo "$output"
	[[ "$output" == *"Subject: from cron"* ]]
	[[ "$output" == *"(posthorn, from userid $(id -u))"* ]]
	[[ "$output" == *"From: <$(id -un)@localhost>"* ]]
	[[ "$output" == *"Date: "* ]]
	[[ "$output" == *"Message-ID: <"* ]]
	[[ "$output" == *"line one"* ]]
	[[ "$output" != *"not sent"* ]]
	grep -qE "uid=$(id -u) from=<$(id -un)@localhost>" "$PH_LOG"
	[ -z "$(ls "$PH_DIR/queue/maildrop")" ]
}

@test "sendmail -t -i: recipients from To, Cc and Bcc; Bcc removed; -F names the sender; dots kept" {
	ph_start
	sm -t -i -F "Cron Daemon" <<'EOF'
To: Alice <alice@localhost>, "Smith, Bob" <bob@localhost>
Bcc: postmaster@localhost
Subject: extracted

.
a body line after a dot line
EOF
	ph_wait_mail bob 1
	ph_wait_mail alice 2
	run mail_of bob
	echo "$output"
	[[ "$output" != *"Bcc:"* ]]
	[[ "$output" != *"postmaster"* ]]
	[[ "$output" == *"From: Cron Daemon <"* ]]
	[[ "$output" == *"a body line after a dot line"* ]]
	run sm -t <<<"Subject: nobody to send to"
	[ "$status" -eq 64 ]
	run sm 'not an address <'
	[ "$status" -eq 65 ]
}

@test "accepted while the daemons are down, delivered when they start" {
	ph_maps
	# The master makes the maildrop at its first start.
	ph_start
	ph_stop
	printf 'Subject: while down\n\nhello\n' | sm bob
	[ "$(ls "$PH_DIR/queue/maildrop" | wc -l)" -eq 1 ]
	ph_start
	ph_wait_mail bob 1
	[ -z "$(ls "$PH_DIR/queue/maildrop")" ]
}

@test "an unknown local user bounces to the sender, who may be named by a trusted user (-f)" {
	ph_start
	printf 'Subject: lost\n\nto nobody\n' | sm -f alice@localhost carol
	ph_wait_mail alice 1
	run mail_of alice
	[[ "$output" == *"carol@localhost"* ]]
	[[ "$output" == *"5.1.1"* ]]
	grep -q "from=<alice@localhost>" "$PH_LOG"
}

@test "sendmail -bs speaks SMTP on stdin; -bp lists the queue; -q flushes; -bi rebuilds the aliases" {
	ph_start
	run sm -bs <<'EOF'
EHLO client
MAIL FROM:<alice@localhost>
RCPT TO:<bob@localhost>
DATA
Subject: over -bs

..dot-stuffed line
.
QUIT
EOF
	echo "$output"
	[[ "$output" == *"250 2.0.0 Ok: queued"* ]]
	[[ "$output" == *"221 2.0.0 Bye"* ]]
	ph_wait_mail bob 1
	run mail_of bob
	[[ "$output" == *$'\n.dot-stuffed line'* ]]
	run sm -bp
	[ "$status" -eq 0 ]
	[[ "$output" == *"Mail queue is empty"* ]]
	run sm -q
	[ "$status" -eq 0 ]
	[[ "$output" == *"queued for delivery"* ]]
	rm -f "$PH_CONF/aliases.db"
	run sm -bi
	[ "$status" -eq 0 ]
	[ -s "$PH_CONF/aliases.db" ]
	run sm -bv alice
	[ "$status" -eq 64 ]
	# Sendmail's daemon mode is not a message to read from stdin.
	run sm -bd </dev/null
	[ "$status" -eq 64 ]
	[[ "$output" == *"posthorn start"* ]]
}

@test "a user's submission: postdrop setgid writes the maildrop, the user cannot choose the sender" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (users, setgid)"
	# A sanitizer runtime cannot run in a setgid process (LeakSanitizer
	# needs ptrace, which a set-group-ID process forbids).
	! grep -q __asan_init "$PH_BUILD/bin/posthorn-postdrop" ||
	    skip "setgid programs do not run under ASan"
	ph_start
	[ "$(stat -c '%a %G' "$PH_DIR/queue/maildrop")" = "1730 posthorn-drop" ]
	bin=$PH_DIR/bin
	mkdir -p "$bin"
	cp "$PH_BUILD/bin/sendmail" "$PH_BUILD/bin/posthorn-postdrop" "$bin/"
	chgrp posthorn-drop "$bin/posthorn-postdrop"
	chmod 2755 "$bin/posthorn-postdrop"
	chmod 755 "$bin" "$PH_CONF"
	chmod 644 "$PH_CONF/posthorn.conf"
	# nobody cannot write the maildrop itself ...
	run su nobody -s /bin/sh -c "touch '$PH_DIR/queue/maildrop/forged'"
	[ "$status" -ne 0 ]
	# ... but through postdrop, as itself only.
	run su nobody -s /bin/sh -c "printf 'Subject: from nobody\n\nhi\n' | '$bin/sendmail' -C '$PH_CONF' -f alice@localhost bob"
	echo "$output"
	[ "$status" -eq 0 ]
	ph_wait_mail bob 1
	uid=$(id -u nobody)
	grep -q "uid=$uid (nobody) may not send as <alice@localhost>" "$PH_LOG"
	grep -qE "uid=$uid from=<nobody@localhost>" "$PH_LOG"
	run mail_of bob
	[[ "$output" == *"from userid $uid"* ]]
	# A configuration the user wrote is not one postdrop follows.
	mkdir -p "$PH_DIR/userconf"
	cp "$PH_CONF/posthorn.conf" "$PH_DIR/userconf/"
	chown -R nobody "$PH_DIR/userconf"
	run su nobody -s /bin/sh -c "printf 'x\n' | '$bin/posthorn-postdrop' -c '$PH_DIR/userconf'"
	[ "$status" -eq 64 ]
	[[ "$output" == *"not owned by root"* ]]
}
