#!/usr/bin/env bats
# DATA framing: only CRLF.CRLF ends a message (SMTP smuggling), NUL
# and bare CR/LF are refused; no header injection through the envelope.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

@test "smuggling: LF.LF, CR.CR, LF.CRLF and CRLF.LF do not end DATA" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n
send x\r.\rRSET\r\n
send y\n.\r\nQUIT\r\n
send z\r\n.\nNOOP\r\n
send end\r\n.\r\n
expect 554 5.6.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	# Exactly one reply to the whole DATA: the smuggled commands were data.
	[ "$(echo "$output" | grep -c '^250 2.1')" -eq 2 ]
	[[ "$output" != *"221 2.0.0 Bye"*"221"* ]]
	sleep 0.3
	[ "$(ph_count_mail bob)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 0 ]
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "NUL bytes in DATA make the message refused; in a command, the command" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send NO\x00OP\r\n
expect 500 5.5.2
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: nul\r\n\r\nbad\x00byte\r\n.\r\n
expect 554 5.6.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"NUL"* ]]
	sleep 0.3
	[ "$(ph_count_mail alice)" -eq 0 ]
}

@test "header injection: CR, LF or other controls in HELO and in envelope addresses are refused" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\rX-Injected: helo\r\n
expect 501 5.5.4
send EHLO x\r\n
expect 250
send MAIL FROM:<a\rX-Injected: from@example.org>\r\n
expect 501 5.1.7
send MAIL FROM:<"a\rX-Injected: q"@example.org>\r\n
expect 501 5.1.7
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice\nX-Injected: rcpt@localhost>\r\n
expect 501 5.1.3
expect 500 5.5.2
send RCPT TO:<"alice\x1b[2J"@localhost>\r\n
expect 501 5.1.3
send RCPT TO:<alice@localhost> ORCPT=rfc822;alice\r@localhost\r\n
expect 501
send RCPT TO:<alice@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: clean\r\n\r\nbody\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	if grep -q "X-Injected" "$(ph_mail_file alice)"; then false; fi
	grep -q "^Return-Path: <a@example.org>" "$(ph_mail_file alice)"
}
