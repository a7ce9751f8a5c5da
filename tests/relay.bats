#!/usr/bin/env bats
# Relay policy: local and relay domains from anyone, other domains only
# from mynetworks; no open relay.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

@test "untrusted client: local and relay domains accepted, others 554 5.7.1" {
	ph_conf mynetworks "192.0.2.0/24, [2001:db8::]/32"
	ph_conf relay_domains "relay.example"
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<s@example.org>\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 250
send RCPT TO:<Someone@RELAY.Example>\r\n
expect 250
send RCPT TO:<victim@example.com>\r\n
expect 554 5.7.1
send RCPT TO:<victim@[192.0.2.1]>\r\n
expect 554 5.7.1
send RCPT TO:<@localhost:victim@example.com>\r\n
expect 554 5.7.1
send RCPT TO:<"victim@example.com"@localhost>\r\n
expect 550 5.1.1
send RCPT TO:<victim%example.com@localhost>\r\n
expect 550 5.1.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"554 5.7.1 <victim@example.com>: Relay access denied"* ]]
}

@test "trusted client (mynetworks): other domains accepted at RCPT" {
	ph_conf mynetworks "127.0.0.0/8"
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<bob@localhost>\r\n
expect 250
send RCPT TO:<someone@example.com>\r\n
expect 250
send DATA\r\n
expect 354
send Subject: out\r\n\r\nto the world\r\n.\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	# Handed to the relay agent, whose MX lookup (no DNS in the tests)
	# fails for now: deferred, not lost and not bounced.
	for i in $(seq 1 100); do
		grep -q "to=<someone@example.com>, relay=none, .*status=deferred (Host or domain name not found" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "to=<someone@example.com>, relay=none, .*status=deferred" "$PH_LOG"
	[ "$(ph_queue_files)" -eq 1 ]
}

@test "a bad mynetworks is a configuration error" {
	ph_conf mynetworks "10.0.0.0/33"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"mynetworks: '10.0.0.0/33' is not an address"* ]]
}
