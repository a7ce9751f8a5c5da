#!/usr/bin/env bats
# Addresses as RFC 5321 4.1.2 writes them: quoted local parts, domain
# case, address literals, source routes, the null sender, postmaster.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

@test "quoted local parts and domain case reach the right mailbox" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<"odd sender"@example.org>\r\n
expect 250
send RCPT TO:<"alice"@localhost>\r\n
expect 250
send RCPT TO:<bob@LocalHost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: quoted\r\n\r\nhi\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	ph_wait_mail bob 1
	grep -q 'Return-Path: <"odd sender"@example.org>' "$(ph_mail_file alice)"
	grep -q 'Delivered-To: bob@localhost' "$(ph_mail_file bob)"
}

@test "address literals are parsed (IPv4 and IPv6) and are not local" {
	ph_conf mynetworks 192.0.2.0/24
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@[192.0.2.7]>\r\n
expect 250
send RCPT TO:<x@[IPv6:2001:db8::1]>\r\n
expect 554 5.7.1
send RCPT TO:<x@[IPv6:not-an-address]>\r\n
expect 501 5.1.3
send RCPT TO:<x@[999.1.1.1]>\r\n
expect 501 5.1.3
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "source routes are accepted and ignored; the null sender is allowed only in MAIL" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<>\r\n
expect 250
send RCPT TO:<>\r\n
expect 501 5.1.3
send RCPT TO:<@hop1.example,@hop2.example:alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: route\r\n\r\nvia a source route\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	grep -q 'Delivered-To: alice@localhost' "$(ph_mail_file alice)"
	grep -q 'Return-Path: <>' "$(ph_mail_file alice)"
}

@test "length limits: local part over 64, path over 256 octets are refused" {
	ph_start
	l65=$(printf 'a%.0s' $(seq 1 65))
	d250=$(printf 'd%.0s' $(seq 1 60)).$(printf 'e%.0s' $(seq 1 60)).$(printf 'f%.0s' $(seq 1 60)).$(printf 'g%.0s' $(seq 1 60)).example
	run ph_smtp <<EOF2
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<$l65@example.org>\r\n
expect 501 5.1.7
send MAIL FROM:<abc@$d250>\r\n
expect 501 5.1.7
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "postmaster is always accepted, even when no alias names it" {
	sed -i '/^postmaster/d' "$PH_CONF/aliases"
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<postmaster>\r\n
expect 250
send RCPT TO:<PostMaster@localhost>\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}
