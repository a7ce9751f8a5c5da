#!/usr/bin/env bats
# REQUIRETLS (RFC 8689): offered under TLS only, kept with the message,
# relayed only over verified TLS to a server that offers it (else the
# message comes back), and the "TLS-Required: No" header.

load lib
load relay_lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 1s
	ph_conf queue_run_delay 1s
	B_DOMAINS="sec.test, insec.test"
}

teardown() {
	stop_b
	ph_teardown
}

# send_rtls FROM TO [HEADER]: over STARTTLS, with MAIL FROM ... REQUIRETLS
# (or, with RTLS=no, without it); HEADER is an extra header line.
send_rtls() {
	/usr/bin/python3 - "$PH_PORT" "$1" "$2" "${3:-}" "${RTLS:-yes}" <<'PY'
import smtplib, ssl, sys
port, sender, rcpt, header, rtls = int(sys.argv[1]), *sys.argv[2:6]
msg = "Subject: secret\r\nFrom: <%s>\r\n%s\r\nthe body is private\r\n" % (
    sender, header + "\r\n" if header else "")
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo()
    opts = ["REQUIRETLS"] if rtls == "yes" else []
    if rtls == "yes":
        assert s.has_extn("requiretls"), s.esmtp_features
    s.sendmail(sender, [rcpt], msg, mail_options=opts)
PY
}

# b_msg USER: B's message for USER (the first one).
b_msg() {
	find "$PH_DIR/b/mail/$1" -path '*/new/*' -type f | head -1
}

@test "smtpd offers REQUIRETLS only under TLS, takes the parameter only there, and notes it in Received:" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO c\r\n
expect 250
send MAIL FROM:<a@localhost> REQUIRETLS\r\n
expect 555
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" != *"REQUIRETLS"*"250 ENHANCEDSTATUSCODES"* ]]
	[[ "$output" == *"555 5.5.4 Unsupported option: REQUIRETLS"* ]]
	send_rtls s@localhost alice@localhost
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	grep -q "^	(using TLSv1.3 with cipher .*; REQUIRETLS)" "$f"
	# Turned off: not offered, even under TLS.
	ph_stop
	ph_conf smtpd_requiretls no
	ph_start
	run send_rtls s@localhost bob@localhost
	[ "$status" -ne 0 ]
	[[ "$output" == *"AssertionError"* ]]
}

@test "REQUIRETLS over DANE to a server that offers it: delivered, and the next server gets REQUIRETLS too" {
	start_b
	zone sec.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA $(tlsa_ee "$PH_DIR/b/etc/tls/cert.pem")"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_start
	send_rtls s@localhost alice@sec.test
	wait_log "to=<alice@sec.test>, relay=mx.sec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "Verified TLS connection established to mx.sec.test.*(DANE-EE(3) matched; policy may)" "$PH_LOG"
	b_wait_mail alice 1
	grep -q "; REQUIRETLS)" "$(b_msg alice)"
}

@test "REQUIRETLS with an MX answer that is not DNSSEC-validated: returned at once with 5.7.10, without the body" {
	start_b
	zone insec.test insecure "@ IN MX 10 mx" "mx IN A 127.0.0.1"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_start
	send_rtls alice@localhost bob@insec.test
	wait_log "to=<bob@insec.test>, relay=none, .*dsn=5.7.10, status=bounced \(REQUIRETLS: the MX lookup for insec.test is not DNSSEC-validated"
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	grep -q "Status: 5.7.10" "$f"
	grep -q "^Subject: secret" "$f"
	if grep -q "the body is private" "$f"; then false; fi
	[ "$(b_mail bob)" -eq 0 ]
}

@test "REQUIRETLS to a server that does not offer it: returned with 5.7.30; without REQUIRETLS the same mail goes" {
	start_b
	echo "smtpd_requiretls = no" >> "$PH_DIR/b/etc/posthorn.conf"
	kill -HUP "$B_MASTER"
	sleep 1
	zone sec.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA $(tlsa_ee "$PH_DIR/b/etc/tls/cert.pem")"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_start
	send_rtls alice@localhost bob@sec.test
	wait_log "to=<bob@sec.test>, relay=none, .*dsn=5.7.30, status=bounced \(REQUIRETLS support required, but host mx.sec.test\[127.0.0.1\]:${bports[0]} does not offer it"
	ph_wait_mail alice 1
	[ "$(b_mail bob)" -eq 0 ]
	RTLS=no send_rtls alice@localhost alice@sec.test
	wait_log "to=<alice@sec.test>, relay=mx.sec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
}

@test "REQUIRETLS to a configured next hop: verified by the CAs and the name; a certificate that fails returns the mail with 5.7.10" {
	start_b
	transport "remote.test smtp:[127.0.0.1]:${bports[0]}"
	# B's self-signed certificate (for localhost and 127.0.0.1) as the CA.
	ph_conf smtp_tls_CAfile "$PH_DIR/b/etc/tls/cert.pem"
	ph_start
	send_rtls s@localhost alice@remote.test
	wait_log "to=<alice@remote.test>, relay=127.0.0.1\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "Verified TLS connection established to 127.0.0.1\[127.0.0.1\]:${bports[0]}: .*(PKIX matched; policy may)" "$PH_LOG"
	ph_stop
	cert_for other.test "$PH_DIR/other"
	ph_conf smtp_tls_CAfile "$PH_DIR/other/cert.pem"
	ph_start
	send_rtls alice@localhost bob@remote.test
	wait_log "to=<bob@remote.test>, relay=none, .*dsn=5.7.10, status=bounced \(REQUIRETLS: server certificate of 127.0.0.1\[127.0.0.1\]:${bports[0]} not verified"
	[ "$(b_mail bob)" -eq 0 ]
	if grep -q "trying .* again without TLS" "$PH_LOG"; then false; fi
}

@test "REQUIRETLS and a server that cannot be reached: the mail waits, it is not returned" {
	dead=$(ph_free_ports 1)
	transport "remote.test smtp:[127.0.0.1]:$dead"
	ph_start
	send_rtls s@localhost alice@remote.test
	wait_log "to=<alice@remote.test>, relay=none, .*dsn=4.4.1, status=deferred"
	if grep -q "status=bounced" "$PH_LOG"; then false; fi
	[ "$(ph_queue_files)" -eq 1 ]
}

@test "TLS-Required: No sets the recipient's DANE aside: delivered where dane-only would defer" {
	start_b
	cert_for other.test "$PH_DIR/other"
	zone sec.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA $(tlsa_ee "$PH_DIR/other/cert.pem")"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_security_level dane-only
	ph_start
	RTLS=no send_rtls s@localhost alice@sec.test
	wait_log "to=<alice@sec.test>, relay=none, .*dsn=4.7.5, status=deferred"
	RTLS=no send_rtls s@localhost bob@sec.test "TLS-Required: No"
	wait_log "to=<bob@sec.test>, relay=mx.sec.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "TLS-Required: No; policy dane-only taken as may" "$PH_LOG"
	b_wait_mail bob 1
	[ "$(b_mail alice)" -eq 0 ]
	# REQUIRETLS wins over the header.
	send_rtls s@localhost carol@sec.test "TLS-Required: No"
	wait_log "to=<carol@sec.test>, relay=none, .*dsn=5.7.10, status=bounced \(REQUIRETLS: server certificate of mx.sec.test"
}
