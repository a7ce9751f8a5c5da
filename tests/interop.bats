#!/usr/bin/env bats
# Interoperability with a real Postfix (Debian's), in both directions,
# each with its own private instance on loopback.

load lib
load postfix

setup() {
	[ "$(id -u)" -eq 0 ] || skip "a private Postfix instance needs root"
	command -v postfix >/dev/null || skip "postfix missing"
	ph_setup
	PF_DIR=$PH_DIR/postfix
	PF_PORT=$(ph_free_ports 1)
}

teardown() {
	pf_stop "${PF_DIR:-/nonexistent}"
	ph_teardown
}

@test "posthorn relays to Postfix: STARTTLS, per-recipient results, the message intact" {
	pf_start "$PF_DIR" "$PF_PORT" \
	    "smtpd_tls_cert_file = $PH_CONF/tls/cert.pem" \
	    "smtpd_tls_key_file = $PH_CONF/tls/key.pem" \
	    "smtpd_tls_security_level = may"
	# carol is an alias here (so posthorn takes the address) that the
	# transport sends to Postfix, which knows no carol.
	echo "carol: bob" >> "$PH_CONF/aliases"
	ph_maps
	printf 'alice@localhost smtp:[127.0.0.1]:%s\ncarol@localhost smtp:[127.0.0.1]:%s\n' \
	    "$PF_PORT" "$PF_PORT" > "$PH_CONF/transport"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/transport"
	ph_conf transport_map "hash:$PH_CONF/transport"
	ph_start
	run swaks --server 127.0.0.1:$PH_PORT --from bob@localhost \
	    --to alice@localhost,carol@localhost --body "to postfix"
	[ "$status" -eq 0 ]
	for i in $(seq 1 200); do
		ls "$PF_DIR"/mail/alice/Maildir/new/* >/dev/null 2>&1 && break
		sleep 0.05
	done
	f=$(ls "$PF_DIR"/mail/alice/Maildir/new/*)
	grep -q "^to postfix" "$f"
	grep -q "by vm\|by .*(posthorn)" "$f"
	# Postfix logs the TLS use with the disconnect (after the idle session).
	for i in $(seq 1 100); do
		grep -q "starttls=1" "$PF_DIR/log/maillog" && break
		sleep 0.1
	done
	grep -q "starttls=1" "$PF_DIR/log/maillog"
	for i in $(seq 1 100); do
		grep -q "to=<carol@localhost>, .*status=bounced" "$PH_LOG" && break
		sleep 0.05
	done
	grep -q "to=<alice@localhost>, relay=127.0.0.1\[127.0.0.1\]:$PF_PORT, .*status=sent" "$PH_LOG"
	grep -q "to=<carol@localhost>, .*dsn=5.1.1, status=bounced (host .* said: 550 5.1.1" "$PH_LOG"
	# bob, the sender, gets the bounce for carol.
	ph_wait_mail bob 1
	grep -q "carol@localhost" "$(ph_mail_file bob)"
}

@test "Postfix relays to posthorn (relayhost), which delivers locally" {
	ph_start
	sed -i 's/^local_domains = .*/local_domains = localhost, remote.test/' \
	    "$PH_CONF/posthorn.conf"
	ph_stop
	ph_start
	pf_start "$PF_DIR" "$PF_PORT" "relayhost = [127.0.0.1]:$PH_PORT"
	run swaks --server 127.0.0.1:$PF_PORT --from someone@localhost \
	    --to bob@remote.test --body "from postfix"
	[ "$status" -eq 0 ]
	ph_wait_mail bob 1 20
	grep -q "^from postfix" "$(ph_mail_file bob)"
	grep -q "with ESMTP" "$(ph_mail_file bob)"
	grep -q "status=sent" "$PF_DIR/log/maillog"
}
