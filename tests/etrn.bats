#!/usr/bin/env bats
# ETRN (RFC 1985): deferred mail for a domain tried at a client's request;
# who may ask, for which domains, how often.

load lib
load relay_lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 1h
	ph_conf maximal_backoff_time 2h
}

teardown() {
	stop_b
	ph_teardown
}

# etrn NODE...: one session, EHLO then ETRN for each node.
etrn() {
	{
		printf 'expect 220\nsend EHLO client.test\\r\\n\nexpect 250\n'
		for n in "$@"; do printf 'send ETRN %s\\r\\n\nread\n' "$n"; done
		printf 'send QUIT\\r\\n\nexpect 221\n'
	} | ph_smtp
}

# deferred N: wait until N recipients have been deferred.
deferred() {
	for i in $(seq 1 200); do
		[ "$(grep -c 'status=deferred' "$PH_LOG")" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

@test "ETRN from a trusted client: the domain's deferred mail goes out at once (253 N), then 251; other mail waits" {
	port=$(ph_free_ports 1)
	other=$(ph_free_ports 1)
	ph_conf relay_domains "etrn.test, other.test"
	transport "etrn.test smtp:[127.0.0.1]:$port" "other.test smtp:[127.0.0.1]:$other"
	ph_start
	send s@example.org u1@etrn.test
	send s@example.org u2@etrn.test
	send s@example.org u3@other.test
	deferred 3
	run etrn etrn.test
	# Nothing listens yet: the attempt is made, and fails again.
	[[ "$output" == *"253 2.0.0 OK, 2 pending messages for node etrn.test started"* ]]
	deferred 5
	ph_sink "$PH_DIR/sink.log" --port "$port"
	run etrn etrn.test
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"250-ETRN"* ]]
	[[ "$output" == *"253 2.0.0 OK, 2 pending messages for node etrn.test started"* ]]
	wait_sent "u1@etrn.test" 1
	wait_sent "u2@etrn.test" 1
	grep -q "flush of etrn.test requested (ETRN from \[127.0.0.1\]): 2 messages started" "$PH_LOG"
	grep -q "ETRN etrn.test from unknown\[127.0.0.1\]: 2 messages started" "$PH_LOG"
	[ "$(grep -c 'to=<u3@other.test>, .*status=deferred' "$PH_LOG")" -eq 1 ]
	run etrn etrn.test
	[[ "$output" == *"251 2.0.0 OK, no messages waiting for node etrn.test"* ]]
	[ "$(ph_queue_files)" -eq 1 ]
}

@test "ETRN @domain takes the subdomains; ETRN #host takes the mail whose next hop is that host" {
	port=$(ph_free_ports 1)
	ph_conf relay_domains "sub.test, a.sub.test, b.test"
	ph_conf etrn_domains "sub.test, gw.test"
	printf '%s\n' "a.sub.test smtp:[127.0.0.1]:$port" "b.test smtp:[gw.test]:$port" \
	    > "$PH_CONF/transport"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/transport"
	ph_conf transport_map "hash:$PH_CONF/transport"
	# gw.test: resolved through /etc/hosts is not possible here, so the
	# named queue is flushed while the host stays unresolvable.
	ph_start
	send s@example.org x@a.sub.test
	send s@example.org y@b.test
	deferred 2
	ph_sink "$PH_DIR/sink.log" --port "$port"
	run etrn sub.test
	[[ "$output" == *"251 2.0.0 OK, no messages waiting for node sub.test"* ]]
	run etrn @sub.test
	[[ "$output" == *"253 2.0.0 OK, 1 pending message for node @sub.test started"* ]]
	wait_sent "x@a.sub.test" 1
	run etrn "#gw.test"
	[[ "$output" == *"253 2.0.0 OK, 1 pending message for node #gw.test started"* ]]
	grep -q "flush of queue #gw.test requested (ETRN from \[127.0.0.1\]): 1 message started" "$PH_LOG"
	deferred 3
	# b.test was not in etrn_domains: refused by name.
	run etrn b.test
	[[ "$output" == *"459 4.7.1 Node b.test not allowed: not a domain this server relays for"* ]]
}

@test "ETRN refusals: untrusted client 459, syntax 501, inside a transaction and before EHLO 503" {
	ph_conf relay_domains "etrn.test"
	ph_conf mynetworks "192.0.2.0/24"
	ph_start
	run etrn etrn.test "" "bad_domain!" "-x.test"
	echo "$output"
	[[ "$output" == *"459 4.7.1 Node etrn.test not allowed: this client may not ask for queue runs"* ]]
	[ "$(echo "$output" | grep -c '^501 5.5.4')" -eq 3 ]
	grep -q "ETRN etrn.test refused: client unknown\[127.0.0.1\] is not allowed (smtpd_etrn_clients)" "$PH_LOG"
	run ph_smtp <<'EOF2'
expect 220
send ETRN etrn.test\r\n
expect 503
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send ETRN etrn.test\r\n
expect 503
send QUIT\r\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"503 5.5.1 Error: MAIL transaction in progress"* ]]
}

@test "ETRN after AUTH is allowed for a client outside mynetworks" {
	ph_conf relay_domains "etrn.test"
	ph_conf mynetworks "192.0.2.0/24"
	ph_start
	pw=$(ph_password)
	run ph_smtp <<EOF2
expect 220
send EHLO x\r\n
expect 250
send STARTTLS\r\n
expect 220
starttls
send EHLO x\r\n
expect 250
auth alice $pw
send ETRN etrn.test\r\n
expect 251
send QUIT\r\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "ETRN is rate limited per client (458); smtpd_etrn_clients = none turns it off (502, not in EHLO)" {
	ph_conf relay_domains "etrn.test"
	ph_conf smtpd_etrn_rate_limit "2/1h"
	ph_start
	run etrn etrn.test etrn.test etrn.test
	echo "$output"
	[ "$(echo "$output" | grep -c '^251 ')" -eq 2 ]
	[[ "$output" == *"458 4.7.0 Unable to queue messages: too many requests from this client, try again later"* ]]
	grep -q "flush of etrn.test refused (ETRN from \[127.0.0.1\]): smtpd_etrn_rate_limit reached" "$PH_LOG"
	ph_stop
	ph_conf smtpd_etrn_clients none
	ph_start
	run etrn etrn.test
	[[ "$output" != *"250-ETRN"* ]]
	[[ "$output" == *"502 5.5.1 Error: ETRN is not offered here"* ]]
	ph_conf smtpd_etrn_clients "mynetworks, everyone"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"smtpd_etrn_clients: 'everyone' is not mynetworks, authenticated, any or none"* ]]
}

@test "posthorn-atrn -e: the customer's ETRN brings its deferred mail to its Maildir at once; exit status by the replies" {
	# B is the customer's server, down while its mail arrives here.
	start_b
	kill -TERM "$B_MASTER"
	wait "$B_MASTER" || true
	ph_conf relay_domains "remote.test"
	transport "remote.test smtp:[127.0.0.1]:${bports[0]}"
	ph_start
	send s@example.org bob@remote.test
	deferred 1
	"$PH_LIBEXEC/master" -f -c "$PH_DIR/b/etc" >> "$PH_DIR/b.log" 2>&1 &
	B_MASTER=$!
	ph_wait_listen "${bports[0]}"
	run "$PH_BUILD/bin/posthorn-atrn" -e -v "127.0.0.1:$PH_PORT" remote.test,other.test
	echo "$output"
	[ "$status" -eq 77 ]
	[[ "$output" == *"TLS TLSv1."* ]]
	[[ "$output" == *"remote.test: 253 2.0.0 OK, 1 pending message for node remote.test started"* ]]
	[[ "$output" == *"other.test: 459 4.7.1 Node other.test not allowed"* ]]
	wait_sent "bob@remote.test" 1
	b_wait_mail bob 1
	run "$PH_BUILD/bin/posthorn-atrn" -e "127.0.0.1:$PH_PORT" remote.test
	[ "$status" -eq 0 ]
	[[ "$output" == *"251 2.0.0 OK, no messages waiting for node remote.test"* ]]
	# -e needs a node; a login needs its password file.
	run "$PH_BUILD/bin/posthorn-atrn" -e "127.0.0.1:$PH_PORT"
	[ "$status" -eq 64 ]
	run "$PH_BUILD/bin/posthorn-atrn" -e -u alice "127.0.0.1:$PH_PORT" remote.test
	[ "$status" -eq 64 ]
}
