#!/usr/bin/env bats
# Maps: posthorn-map itself, and the tables that use it: virtual aliases,
# virtual mailbox domains, access maps, relay recipients, inline maps.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

mapq() {	# mapq KEY MAP
	"$PH_BUILD/bin/posthorn-map" -q "$@"
}

@test "posthorn-map: build, query, list, exit codes, errors with file:line" {
	printf '# comment\nKey1  value one\nkey2: a,\n  b\n' > "$PH_DIR/t"
	run "$PH_BUILD/bin/posthorn-map" "hash:$PH_DIR/t"
	[ "$status" -eq 0 ]
	[ -f "$PH_DIR/t.db" ]
	run mapq KEY1 "hash:$PH_DIR/t"
	[ "$status" -eq 0 ] && [ "$output" = "value one" ]
	run mapq key2 "hash:$PH_DIR/t"
	[ "$output" = "a, b" ]
	run mapq nothing "hash:$PH_DIR/t"
	[ "$status" -eq 1 ]
	run "$PH_BUILD/bin/posthorn-map" -s "hash:$PH_DIR/t"
	[ "$(echo "$output" | sort)" = $'key1 value one\nkey2 a, b' ]
	cp "$PH_DIR/t" "$PH_DIR/b"
	run "$PH_BUILD/bin/posthorn-map" "btree:$PH_DIR/b"
	run mapq key1 "btree:$PH_DIR/b"
	[ "$output" = "value one" ]
	# A bad source leaves the old database untouched.
	printf 'key1 x\nkey1 y\n' > "$PH_DIR/t"
	run "$PH_BUILD/bin/posthorn-map" "hash:$PH_DIR/t"
	[ "$status" -eq 2 ]
	[[ "$output" == *"$PH_DIR/t:2: duplicate key 'key1' (first at line 1)"* ]]
	run mapq key1 "hash:$PH_DIR/t"
	[ "$output" = "value one" ]
	# A corrupt database is named, with what to do.
	echo garbage > "$PH_DIR/t.db"
	run mapq key1 "hash:$PH_DIR/t"
	[ "$status" -eq 2 ]
	[[ "$output" == *"$PH_DIR/t.db: cannot open database"*"rebuild it with posthorn-map"* ]]
	run mapq key1 "hash:$PH_DIR/missing"
	[ "$status" -eq 2 ]
	[[ "$output" == *"build it with posthorn-map"* ]]
}

@test "newaliases builds alias_map from posthorn.conf" {
	echo "newname: alice" >> "$PH_CONF/aliases"
	run "$PH_BUILD/bin/newaliases" -c "$PH_CONF"
	[ "$status" -eq 0 ]
	run mapq newname "hash:$PH_CONF/aliases"
	[ "$output" = alice ]
}

@test "virtual_alias_map rewrites recipients, keeps the original as ORCPT" {
	printf 'info@example.com alice@localhost, bob@localhost\n@alias.example @localhost\n' > "$PH_CONF/virtual"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/virtual"
	ph_conf virtual_alias_map "hash:$PH_CONF/virtual"
	ph_conf virtual_alias_domains "example.com, alias.example"
	ph_conf mynetworks 192.0.2.0/24
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<s@example.org>\r\n
expect 250
send RCPT TO:<info@example.com>\r\n
expect 250
send RCPT TO:<bob@alias.example>\r\n
expect 250
send RCPT TO:<nobody@example.com>\r\n
expect 550 5.1.1
send DATA\r\n
expect 354
send Subject: virtual\r\n\r\nrewritten\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"User unknown in virtual alias table"* ]]
	ph_wait_mail alice 1
	ph_wait_mail bob 1
	sleep 0.3
	# bob@localhost came twice (info@ and bob@alias.example): one copy.
	[ "$(ph_count_mail bob)" -eq 1 ]
}

@test "virtual mailbox domains: whole addresses and a catch-all" {
	printf 'carol@vdom.example vdom/carol/\n@vdom.example vdom/catchall/\nalice alice/Maildir/\nbob bob/Maildir/\n' > "$PH_CONF/mailboxes"
	ph_conf virtual_mailbox_domains vdom.example
	ph_conf mynetworks 192.0.2.0/24
	ph_start
	for r in carol@vdom.example Carol+tag@VDOM.example someone@vdom.example; do
		swaks --server 127.0.0.1:$PH_PORT --from s@example.org --to "$r" \
		    --body "for $r" >/dev/null
	done
	for i in $(seq 1 100); do
		[ "$(ls "$PH_MAIL/vdom/carol/new" 2>/dev/null | wc -l)" -eq 2 ] &&
		    [ "$(ls "$PH_MAIL/vdom/catchall/new" 2>/dev/null | wc -l)" -eq 1 ] && break
		sleep 0.05
	done
	[ "$(ls "$PH_MAIL/vdom/carol/new" | wc -l)" -eq 2 ]
	[ "$(ls "$PH_MAIL/vdom/catchall/new" | wc -l)" -eq 1 ]
}

@test "access maps: client, sender and recipient; OK, REJECT, DEFER, own code" {
	printf '127.0.0 OK\n' > "$PH_CONF/client_access"
	printf 'spammer@example.org REJECT no thanks\nslow.example DEFER busy\nexample.net 521 5.7.0 Go away\n' > "$PH_CONF/sender_access"
	printf 'bob@ REJECT bob takes no mail\n' > "$PH_CONF/rcpt_access"
	for m in client_access sender_access rcpt_access; do
		"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/$m"
	done
	ph_conf smtpd_client_access "hash:$PH_CONF/client_access"
	ph_conf smtpd_sender_access "hash:$PH_CONF/sender_access"
	ph_conf smtpd_recipient_access "hash:$PH_CONF/rcpt_access"
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<spammer@example.org>\r\n
expect 554 5.7.1
send MAIL FROM:<x@mail.slow.example>\r\n
expect 450 4.7.1
send MAIL FROM:<x@example.net>\r\n
expect 521 5.7.0
send MAIL FROM:<friend@example.org>\r\n
expect 250
send RCPT TO:<bob@localhost>\r\n
expect 554 5.7.1
send RCPT TO:<alice@localhost>\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"Sender address rejected: no thanks"* ]]
	[[ "$output" == *"bob takes no mail"* ]]
	# Now reject the client's network: every MAIL is refused.
	printf '127.0.0 REJECT not from here\n' > "$PH_CONF/client_access"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/client_access"
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<friend@example.org>\r\n
expect 554 5.7.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"Client host rejected: not from here"* ]]
}

@test "inline: and static: maps work where a map is expected" {
	ph_conf smtpd_sender_access "inline:{ bad@example.org = REJECT inline says no, good@example.org=OK }"
	ph_conf smtpd_recipient_access "static:OK"
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<bad@example.org>\r\n
expect 554 5.7.1
send MAIL FROM:<good@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"inline says no"* ]]
}

@test "relay_recipient_map: unknown users in relay domains are refused" {
	printf 'known@relay.example OK\n' > "$PH_CONF/relay_rcpts"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/relay_rcpts"
	ph_conf relay_domains relay.example
	ph_conf relay_recipient_map "hash:$PH_CONF/relay_rcpts"
	ph_conf mynetworks 192.0.2.0/24
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<s@example.org>\r\n
expect 250
send RCPT TO:<known@relay.example>\r\n
expect 250
send RCPT TO:<unknown@relay.example>\r\n
expect 550 5.1.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"User unknown in relay recipient table"* ]]
}

@test "a map named in the configuration but never built stops the start clearly" {
	ph_conf smtpd_sender_access "hash:$PH_CONF/never_built"
	"$PH_LIBEXEC/master" -f -c "$PH_CONF" >>"$PH_LOG" 2>&1 &
	PH_MASTER=$!
	for i in $(seq 1 100); do
		grep -q "smtpd_sender_access: map hash:$PH_CONF/never_built" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "smtpd_sender_access: map hash:$PH_CONF/never_built: .*build it with posthorn-map" "$PH_LOG"
}

@test "transport_map: error: bounces, retry: defers" {
	printf 'bob@localhost error:5.1.6 bob has moved to bob@new.example\nalice@localhost retry:4.2.1 mailbox being moved\n.sub.example local\n' > "$PH_CONF/transport"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/transport"
	ph_conf transport_map "hash:$PH_CONF/transport"
	ph_start
	swaks --server 127.0.0.1:$PH_PORT --from postmaster@localhost \
	    --to bob@localhost --body "to bob" >/dev/null
	swaks --server 127.0.0.1:$PH_PORT --from postmaster@localhost \
	    --to alice@localhost --body "to alice" >/dev/null
	for i in $(seq 1 100); do
		grep -q "to=<alice@localhost>, .*dsn=4.2.1, status=deferred (mailbox being moved)" "$PH_LOG" &&
		    grep -q "to=<bob@localhost>, .*dsn=5.1.6, status=bounced (bob has moved to bob@new.example)" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "to=<alice@localhost>, .*dsn=4.2.1, status=deferred (mailbox being moved)" "$PH_LOG"
	grep -q "to=<bob@localhost>, .*dsn=5.1.6, status=bounced (bob has moved to bob@new.example)" "$PH_LOG"
	[ "$(ph_count_mail bob)" -eq 0 ]
}

@test "postmaster exists in every virtual mailbox domain; aliases reach virtual users" {
	printf 'carol@vdom.example vdom/carol/\nalice alice/Maildir/\nbob bob/Maildir/\n' > "$PH_CONF/mailboxes"
	echo "tocarol: carol@vdom.example" >> "$PH_CONF/aliases"
	ph_conf virtual_mailbox_domains vdom.example
	ph_start
	swaks --server 127.0.0.1:$PH_PORT --from s@example.org \
	    --to postmaster@vdom.example --body "pm" >/dev/null
	swaks --server 127.0.0.1:$PH_PORT --from s@example.org \
	    --to tocarol@localhost --body "via alias" >/dev/null
	ph_wait_mail alice 1
	for i in $(seq 1 100); do
		[ "$(ls "$PH_MAIL/vdom/carol/new" 2>/dev/null | wc -l)" -eq 1 ] && break
		sleep 0.05
	done
	[ "$(ls "$PH_MAIL/vdom/carol/new" | wc -l)" -eq 1 ]
}
