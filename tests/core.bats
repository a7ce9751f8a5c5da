#!/usr/bin/env bats
# Core SMTP (RFC 5321): greeting, EHLO, sequence and syntax errors,
# unknown verbs, parameters, pipelining, pre-greeting talk.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

@test "greeting and EHLO advertise exactly what is offered" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO client.example\r\n
expect 250
send HELO client.example\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^220\ .*\ ESMTP\ posthorn$ ]]
	[[ "$output" == *"250-PIPELINING"* ]]
	[[ "$output" == *"250-SIZE 10240000"* ]]
	[[ "$output" == *"250-8BITMIME"* ]]
	[[ "$output" == *"250 ENHANCEDSTATUSCODES"* ]]
	# TLS first: AUTH is offered only after STARTTLS.
	[[ "$output" == *"250-STARTTLS"* && "$output" != *"AUTH"* ]]
}

@test "bad sequence: 503 for MAIL before HELO, RCPT before MAIL, DATA before RCPT, nested MAIL" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send MAIL FROM:<a@example.org>\r\n
expect 503 5.5.1
send EHLO x\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 503 5.5.1
send DATA\r\n
expect 503 5.5.1
send MAIL FROM:<a@example.org>\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 503 5.5.1
send DATA\r\n
expect 554 5.5.1
send RSET\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 503 5.5.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "syntax errors: 501 for bad paths and missing arguments" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO\r\n
expect 501 5.5.4
send EHLO x\r\n
expect 250
send MAIL FROM:a@example.org\r\n
expect 501 5.1.7
send MAIL TO:<a@example.org>\r\n
expect 501 5.5.4
send MAIL FROM:<a@@example.org>\r\n
expect 501 5.1.7
send MAIL FROM: <a@example.org>\r\n
expect 250
send RCPT TO:<alice>\r\n
expect 501 5.1.3
send RCPT TO:<alice@-bad-.example>\r\n
expect 501 5.1.3
send RCPT TO:<@relay.example:alice@localhost>\r\n
expect 250
send RSET extra\r\n
expect 501
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "unknown verbs get 500, verbs not offered get 502, case does not matter" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send ehlo x\r\n
expect 250
send FROB\r\n
expect 500 5.5.2
send EXPN staff\r\n
expect 502 5.5.1
send TURN\r\n
expect 502 5.5.1
send noop\r\n
expect 250
send NOOP with an argument\r\n
expect 250
send VRFY alice\r\n
expect 252 2.5.2
send HELP\r\n
expect 214
send mail from:<a@example.org>\r\n
expect 250
send rcpt to:<alice@localhost>\r\n
expect 250
send QuIt\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "ESMTP parameters: SIZE over the limit 552, unknown 555, none without EHLO" {
	ph_conf message_size_limit 2048
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send HELO x\r\n
expect 250
send MAIL FROM:<a@example.org> SIZE=100\r\n
expect 555 5.5.4
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org> SIZE=4096\r\n
expect 552 5.3.4
send MAIL FROM:<a@example.org> FROB=1\r\n
expect 555 5.5.4
send MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME\r\n
expect 250
send RCPT TO:<alice@localhost> XFOO=1\r\n
expect 555 5.5.4
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "pipelining: a whole transaction in one write, replies in order" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<p@example.org>\r\nRCPT TO:<alice@localhost>\r\nRCPT TO:<ghost@localhost>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n
expect 250 2.1.0
expect 250 2.1.5
expect 550 5.1.1
expect 250 2.1.5
expect 354
send Subject: piped\r\n\r\npipelined body\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n
expect 250 2.0.0
expect 250
expect 250
expect 221
EOF2
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	ph_wait_mail bob 1
}

@test "a client that talks before the greeting is refused" {
	ph_conf smtpd_greet_pause 1s
	ph_start
	run ph_smtp <<'EOF2'
send EHLO early\r\n
drain
EOF2
	[[ "${lines[0]}" == "220-"* ]]
	[[ "$output" == *"554 5.5.1 Error: talked before the greeting"* ]]
	[[ "$output" != *"250"* ]]
	# A patient client is served.
	run ph_smtp <<'EOF2'
expect 220
send EHLO patient\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "the disconnect log line counts the commands of the session" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send RCPT TO:<bob@localhost>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: c\r\n\r\ncounted\r\n.\r\n
expect 250
send FROB\r\n
expect 500
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	for i in $(seq 1 40); do
		grep -q "disconnect from unknown\[127.0.0.1\] ehlo=1 mail=1 rcpt=2 data=1 quit=1 unknown=1 commands=7" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "disconnect from unknown\[127.0.0.1\] ehlo=1 mail=1 rcpt=2 data=1 quit=1 unknown=1 commands=7" "$PH_LOG"
}
