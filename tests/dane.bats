#!/usr/bin/env bats
# DANE (RFC 7672): the relay client under the dane and dane-only levels,
# against a validating unbound that serves signed, unsigned and bogus test
# zones, and a receiving posthorn (B) with matching and other keys.

load lib
load relay_lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 1s
	ph_conf queue_run_delay 1s
	B_DOMAINS="sec.test, insec.test, bogus.test, nota.test, mixed.sec.test"
}

teardown() {
	stop_b
	ph_teardown
}

# b_cert: B's certificate (made by mkinstance when it is not set up first).
b_cert() {
	echo "$PH_DIR/b/etc/tls/cert.pem"
}

# not_in_clear ADDR: nothing for ADDR reached B (and so not in the clear).
not_in_clear() {
	[ "$(b_mail "${1%@*}")" -eq 0 ]
	if grep -q "to=<$1>.*status=sent" "$PH_LOG"; then false; fi
}

@test "DANE-EE: a TLSA record of B's key, DNSSEC-validated: delivered over verified TLS, and the log says so" {
	start_b
	zone sec.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA $(tlsa_ee "$(b_cert)")"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_security_level dane
	ph_start
	send s@localhost alice@sec.test
	wait_log "to=<alice@sec.test>, relay=mx.sec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	b_wait_mail alice 1
	grep -q "Verified TLS connection established to mx.sec.test\[127.0.0.1\]:${bports[0]}: TLSv1.3 with cipher .* (DANE-EE(3) matched; policy dane)" "$PH_LOG"
}

@test "DANE: a TLSA record that matches no key defers 4.7.5, and the mail is never sent in the clear" {
	start_b
	cert_for other.test "$PH_DIR/other"
	zone sec.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA $(tlsa_ee "$PH_DIR/other/cert.pem")"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_security_level dane
	ph_start
	send s@localhost alice@sec.test
	wait_log "to=<alice@sec.test>, relay=none, .*dsn=4.7.5, status=deferred \(server certificate of mx.sec.test\[127.0.0.1\]:${bports[0]} not verified: no TLSA record of mx.sec.test matches"
	sleep 1
	not_in_clear alice@sec.test
	if grep -q "trying .* again without TLS" "$PH_LOG"; then false; fi
	[ "$(ph_queue_files)" -eq 1 ]
}

@test "DANE: the first MX does not match, the second does: delivered through the second" {
	start_b
	cert_for other.test "$PH_DIR/other"
	zone sec.test signed "@ IN MX 10 mx1" "@ IN MX 20 mx2" \
	    "mx1 IN A 127.0.0.1" "mx2 IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx1 IN TLSA $(tlsa_ee "$PH_DIR/other/cert.pem")" \
	    "_${bports[0]}._tcp.mx2 IN TLSA $(tlsa_ee "$(b_cert)")"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_security_level dane
	ph_start
	send s@localhost alice@sec.test
	wait_log "to=<alice@sec.test>, relay=mx2.sec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	b_wait_mail alice 1
	grep -q "Verified TLS connection established to mx2.sec.test.*(DANE-EE(3) matched; policy dane)" "$PH_LOG"
}

@test "DANE-TA: B's certificate from the CA of the TLSA record verifies for the MX name, not for another name" {
	test_ca "$PH_DIR/ca"
	cert_for mx.sec.test "$PH_DIR/b/etc/tls" "$PH_DIR/ca"
	start_b
	zone sec.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA $(tlsa_ta "$PH_DIR/ca/ca.pem")" \
	    "other IN MX 10 mx2.other" "mx2.other IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx2.other IN TLSA $(tlsa_ta "$PH_DIR/ca/ca.pem")"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_security_level dane
	ph_start
	send s@localhost alice@sec.test
	wait_log "to=<alice@sec.test>, relay=mx.sec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	b_wait_mail alice 1
	grep -q "Verified TLS connection established to mx.sec.test.*(DANE-TA(2) matched; policy dane)" "$PH_LOG"
	# The same CA, but the certificate names mx.sec.test, not mx2.other.
	send s@localhost bob@other.sec.test
	wait_log "to=<bob@other.sec.test>, relay=none, .*dsn=4.7.5, status=deferred \(server certificate of mx2.other.sec.test\[127.0.0.1\]:${bports[0]} not verified: no TLSA record of mx2.other.sec.test matches \(hostname mismatch\)"
}

@test "DANE: usable TLSA records and a server without STARTTLS: deferred 4.7.4, never in the clear" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport"
	cert_for other.test "$PH_DIR/other"
	zone sec.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${sport}._tcp.mx IN TLSA $(tlsa_ee "$PH_DIR/other/cert.pem")"
	dnssec_dns
	ph_conf smtp_port "$sport"
	ph_conf smtp_tls_security_level dane
	ph_start
	send s@localhost alice@sec.test
	wait_log "to=<alice@sec.test>, relay=none, .*dsn=4.7.4, status=deferred \(TLS is required, but host mx.sec.test\[127.0.0.1\]:$sport did not offer it"
	[ ! -s "$PH_DIR/sink.log" ]
}

@test "dane falls back to may for an unsigned zone and a signed one without TLSA; dane-only defers them, and an MX host whose address is not validated" {
	start_b
	zone sec.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "mixed IN MX 10 mx.insec.test."
	zone insec.test insecure "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA 3 1 1 0000000000000000000000000000000000000000000000000000000000000000"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_security_level dane
	ph_start
	send s@localhost alice@sec.test bob@insec.test
	wait_log "to=<alice@sec.test>, relay=mx.sec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	wait_log "to=<bob@insec.test>, relay=mx.insec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "Unverified TLS connection established to mx.sec.test.*(policy dane, no DANE for this host)" "$PH_LOG"
	grep -q "Unverified TLS connection established to mx.insec.test.*(policy dane, no DANE for this host)" "$PH_LOG"
	ph_stop
	ph_conf smtp_tls_security_level dane-only
	ph_start
	send s@localhost carol@sec.test dave@insec.test erin@mixed.sec.test
	wait_log "to=<carol@sec.test>, relay=none, .*dsn=4.7.5, status=deferred \(no DNSSEC-validated TLSA records for mx.sec.test \(policy dane-only\)"
	wait_log "to=<dave@insec.test>, relay=none, .*dsn=4.7.5, status=deferred \(no DANE for mx.insec.test: the MX lookup is not DNSSEC-validated \(policy dane-only\)"
	# A validated MX answer naming a host whose address is not validated.
	wait_log "to=<erin@mixed.sec.test>, relay=none, .*dsn=4.7.5, status=deferred \(no DANE for mx.insec.test: the address lookup is not DNSSEC-validated \(policy dane-only\)"
	sleep 1
	not_in_clear carol@sec.test
	not_in_clear dave@insec.test
	not_in_clear erin@mixed.sec.test
}

@test "DANE: a bogus TLSA answer rules the host out, and the mail waits" {
	start_b
	zone bogus.test bogus "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA $(tlsa_ee "$(b_cert)")"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_security_level dane
	ph_start
	send s@localhost alice@bogus.test
	# The MX lookup itself is bogus: a temporary DNS failure.
	wait_log "to=<alice@bogus.test>, relay=none, .*dsn=4.4.3, status=deferred"
	sleep 1
	not_in_clear alice@bogus.test
}

@test "DANE: a TLSA lookup that fails for one MX host skips it; only PKIX usages mean TLS without verification" {
	start_b
	# mx1's TLSA name is an alias into a zone signed with a key the
	# resolver does not trust (a bogus answer); nota.test's records are
	# all PKIX-EE, which DANE for SMTP cannot use.
	zone bogus.test bogus "tlsa IN TLSA $(tlsa_ee "$(b_cert)")"
	zone sec.test signed "@ IN MX 10 mx1" "@ IN MX 20 mx2" \
	    "mx1 IN A 127.0.0.1" "mx2 IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx1 IN CNAME tlsa.bogus.test." \
	    "_${bports[0]}._tcp.mx2 IN TLSA $(tlsa_ee "$(b_cert)")"
	zone nota.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA 1 1 1 0000000000000000000000000000000000000000000000000000000000000000"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_security_level dane-only
	printf 'nota.test dane\n' > "$PH_CONF/tls_policy"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/tls_policy"
	ph_conf smtp_tls_policy_map "hash:$PH_CONF/tls_policy"
	ph_start
	send s@localhost alice@sec.test bob@nota.test
	wait_log "to=<alice@sec.test>, relay=mx2.sec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	wait_log "to=<bob@nota.test>, relay=mx.nota.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "TLSA lookup of _${bports[0]}._tcp.mx1.sec.test failed (no answer, or a DNSSEC-bogus one)" "$PH_LOG"
	grep -q "Unverified TLS connection established to mx.nota.test.*(policy dane, TLSA records unusable)" "$PH_LOG"
}

@test "the dane levels in the configuration: dane and dane-only accepted, a misspelling refused" {
	ph_conf smtp_tls_security_level dane-only
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -eq 0 ]
	ph_conf smtp_tls_security_level dane-ony
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"smtp_tls_security_level: expected none, may, encrypt, verify, dane or dane-only"* ]]
}
