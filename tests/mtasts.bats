#!/usr/bin/env bats
# MTA-STS (RFC 8461) and TLS reporting (RFC 8460): policies fetched over
# HTTPS from a local server (tests/httpsd.py) with a test CA, announced by
# TXT records of a dnsmasq on loopback, applied to deliveries to a second
# posthorn (B) whose certificate does or does not pass; the TLS reports
# that posthorn-tlsrpt makes of what happened.

load lib
load relay_lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 1s
	ph_conf queue_run_delay 1s
	B_DOMAINS="sts.test, both.test"
	test_ca "$PH_DIR/ca"
	cert_for mta-sts.sts.test,mta-sts.both.test "$PH_DIR/web" "$PH_DIR/ca"
}

teardown() {
	stop_b
	ph_teardown
}

# sts_world MODE MX [ID]: B (its certificate made first, by the caller, or
# self-signed), the HTTPS server with sts.test's policy (MODE, one mx
# pattern MX), DNS for sts.test, and the instance pointed at all three.
sts_world() {
	start_b
	httpsd "$PH_DIR/web"
	sts_policy sts.test "version: STSv1\nmode: $1\nmx: $2\nmax_age: 86400\n"
	dns --mx-host=sts.test,mx.sts.test,10 \
	    --host-record=mx.sts.test,127.0.0.1 \
	    --host-record=mta-sts.sts.test,127.0.0.1 \
	    --txt-record=_mta-sts.sts.test,"v=STSv1; id=${3:-one}"
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_CAfile "$PH_DIR/ca/ca.pem"
}

# fetches: how many times the policy was asked for.
fetches() {
	grep -c "mta-sts.txt 200" "$PH_DIR/https.log" 2>/dev/null || true
}

@test "MTA-STS enforce: policy fetched over HTTPS and kept; delivered over TLS verified for the MX name" {
	cert_for mx.sts.test "$PH_DIR/b/etc/tls" "$PH_DIR/ca"
	sts_world enforce mx.sts.test
	# Each message on a new connection, each under the policy.
	ph_conf smtp_connection_cache_time_limit 0
	ph_start
	send s@localhost alice@sts.test
	wait_log "to=<alice@sts.test>, relay=mx.sts.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "MTA-STS policy of sts.test: mode enforce, id one (fetched)" "$PH_LOG"
	grep -q "Verified TLS connection established to mx.sts.test.*(PKIX matched; policy mta-sts enforce)" "$PH_LOG"
	wait_log "tlspol: MTA-STS policy of sts.test kept \(id one, mode enforce, max_age 86400\)"
	grep -q "^mode: enforce" "$PH_DIR/queue/tlspol/sts/sts.test"
	[ "$(fetches)" -eq 1 ]
	# The next message: the kept policy, no new fetch, even with the web
	# server gone (RFC 8461 5.1).
	kill "$HTTPSD_PID"
	send s@localhost bob@sts.test
	wait_log "to=<bob@sts.test>, relay=mx.sts.test.*status=sent"
	grep -q "MTA-STS policy of sts.test: mode enforce, id one (kept)" "$PH_LOG"
	[ "$(fetches)" -eq 1 ]
}

@test "MTA-STS enforce: a certificate that does not pass defers 4.7.5, never in the clear; testing mode delivers and reports it" {
	# B keeps mkinstance's self-signed certificate (for localhost).
	sts_world enforce mx.sts.test
	ph_start
	send s@localhost alice@sts.test
	wait_log "to=<alice@sts.test>, relay=none, .*dsn=4.7.5, status=deferred \(server certificate of mx.sts.test\[127.0.0.1\]:${bports[0]} not verified"
	sleep 1
	[ "$(b_mail alice)" -eq 0 ]
	if grep -q "trying .* again without TLS" "$PH_LOG"; then false; fi
	pq delete ALL >/dev/null
	ph_stop
	# The same world in testing mode (the kept policy forgotten).
	rm -f "$PH_DIR/queue/tlspol/sts/sts.test"
	sts_policy sts.test "version: STSv1\nmode: testing\nmx: mx.sts.test\nmax_age: 86400\n"
	ph_start
	send s@localhost bob@sts.test
	wait_log "to=<bob@sts.test>, relay=mx.sts.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "Unverified TLS connection established to mx.sts.test.*(policy mta-sts testing, the certificate did not pass: " "$PH_LOG"
	b_wait_mail bob 1
	# Today's TLS report for sts.test: both sessions failed validation.
	sleep 0.5
	run "$PH_BUILD/bin/posthorn-tlsrpt" -c "$PH_CONF" -d "$(date -u +%F)"
	[ "$status" -eq 0 ]
	echo "$output" > "$PH_DIR/report.json"
	/usr/bin/python3 - "$PH_DIR/report.json" "${bports[0]}" <<'PY'
import json, sys
reports = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(reports) == 1, reports
r = reports[0]
for k in ("organization-name", "date-range", "contact-info", "report-id"):
    assert k in r, k
pols = {p["policy"]["policy-string"][1]: p for p in r["policies"]}
enf, tst = pols["mode: enforce"], pols["mode: testing"]
for p in (enf, tst):
    assert p["policy"]["policy-type"] == "sts"
    assert p["policy"]["policy-domain"] == "sts.test"
    assert p["policy"]["mx-host"] == ["mx.sts.test"]
    assert p["summary"]["total-successful-session-count"] == 0, p
    d = p["failure-details"][0]
    assert d["result-type"] in ("certificate-not-trusted",
                                "certificate-host-mismatch"), d
    assert d["receiving-mx-hostname"] == "mx.sts.test"
    assert d["receiving-ip"] == "127.0.0.1"
    assert d["sending-mta-ip"] == "127.0.0.1"
assert tst["summary"]["total-failure-session-count"] == 1, tst
assert enf["summary"]["total-failure-session-count"] >= 1, enf
PY
}

@test "MTA-STS enforce: an MX host outside the policy is not tried; a good one still is" {
	cert_for mx.sts.test "$PH_DIR/b/etc/tls" "$PH_DIR/ca"
	sts_world enforce "*.other.test"
	ph_start
	send s@localhost alice@sts.test
	wait_log "to=<alice@sts.test>, relay=none, .*dsn=4.7.5, status=deferred \(MX host mx.sts.test is not in the MTA-STS policy of sts.test \(mode enforce\)"
	[ "$(b_mail alice)" -eq 0 ]
	# A new policy (new id) naming the host by a wildcard: delivered.
	ph_stop
	sts_policy sts.test "version: STSv1\nmode: enforce\nmx: *.sts.test\nmax_age: 86400\n"
	rm -f "$PH_DIR/queue/tlspol/sts/sts.test"
	# The deferred message is retried by itself (minimal_backoff_time).
	ph_start
	wait_log "to=<alice@sts.test>, relay=mx.sts.test\[127.0.0.1\]:${bports[0]}, .*status=sent" 15
}

@test "MTA-STS: a policy that cannot be fetched, or is not valid, is no policy: delivered as before, and reported" {
	sts_world enforce mx.sts.test
	kill "$HTTPSD_PID"
	ph_start
	send s@localhost alice@sts.test
	wait_log "to=<alice@sts.test>, relay=mx.sts.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "MTA-STS policy of sts.test not fetched: connect to mta-sts.sts.test\[127.0.0.1\]:$HTTPS_PORT" "$PH_LOG"
	grep -q "Unverified TLS connection established to mx.sts.test.*(policy may)" "$PH_LOG"
	# A policy that is not one (HTML from a misconfigured server).
	httpsd "$PH_DIR/web"
	sts_policy sts.test "<html>hello</html>\n"
	ph_stop
	ph_conf smtp_mta_sts_https_port "$HTTPS_PORT"
	ph_start
	send s@localhost bob@sts.test
	wait_log "to=<bob@sts.test>, relay=mx.sts.test.*status=sent"
	grep -q "MTA-STS policy of sts.test is not valid: " "$PH_LOG"
	sleep 0.5
	run "$PH_BUILD/bin/posthorn-tlsrpt" -c "$PH_CONF" -d "$(date -u +%F)" -D sts.test
	[ "$status" -eq 0 ]
	[[ "$output" == *'"result-type": "sts-policy-fetch-error"'* ]]
	[[ "$output" == *'"result-type": "sts-policy-invalid"'* ]]
	[ ! -e "$PH_DIR/queue/tlspol/sts/sts.test" ]
}

@test "DANE wins over MTA-STS: a domain with both is held to its TLSA records" {
	start_b
	httpsd "$PH_DIR/web"
	# An enforce policy that names another host, which DANE overrides.
	sts_policy both.test "version: STSv1\nmode: enforce\nmx: elsewhere.test\nmax_age: 86400\n"
	zone both.test signed "@ IN MX 10 mx" "mx IN A 127.0.0.1" \
	    "_${bports[0]}._tcp.mx IN TLSA $(tlsa_ee "$PH_DIR/b/etc/tls/cert.pem")" \
	    "_mta-sts IN TXT \"v=STSv1; id=two\"" "mta-sts IN A 127.0.0.1"
	dnssec_dns
	ph_conf smtp_port "${bports[0]}"
	ph_conf smtp_tls_CAfile "$PH_DIR/ca/ca.pem"
	ph_conf smtp_tls_security_level dane
	ph_start
	send s@localhost alice@both.test
	wait_log "to=<alice@both.test>, relay=mx.both.test\[127.0.0.1\]:${bports[0]}, .*status=sent"
	grep -q "Verified TLS connection established to mx.both.test.*(DANE-EE(3) matched; policy dane)" "$PH_LOG"
	sleep 0.5
	# The report counts the session under the TLSA policy.
	run "$PH_BUILD/bin/posthorn-tlsrpt" -c "$PH_CONF" -d "$(date -u +%F)" -D both.test
	[ "$status" -eq 0 ]
	[[ "$output" == *'"policy-type": "tlsa"'*'"total-successful-session-count": 1'* ]]
}

@test "posthorn-tlsrpt: a day without sessions is no report; -o writes RFC 8460 file names; bad options are refused" {
	run "$PH_BUILD/bin/posthorn-tlsrpt" -c "$PH_CONF" -d 2020-01-01
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run "$PH_BUILD/bin/posthorn-tlsrpt" -c "$PH_CONF" -d yesterday
	[ "$status" -eq 2 ]
	[[ "$output" == *"expected YYYY-MM-DD"* ]]
	mkdir -p "$PH_DIR/queue/tlspol/results" "$PH_DIR/out"
	printf '1700000000\tsts.test\tsts\tversion: STSv1%%0Amode: enforce\tmx.sts.test\tsuccess\t127.0.0.1\tmx.sts.test\t127.0.0.2\t\n' \
	    > "$PH_DIR/queue/tlspol/results/2023-11-14"
	run "$PH_BUILD/bin/posthorn-tlsrpt" -c "$PH_CONF" -d 2023-11-14 -o "$PH_DIR/out"
	[ "$status" -eq 0 ]
	f=$(ls "$PH_DIR/out")
	[[ "$f" == *'!sts.test!1699920000!1700006399.json' ]]
	/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); p=r["policies"][0]; assert p["policy"]["policy-string"]==["version: STSv1","mode: enforce"] and p["summary"]["total-successful-session-count"]==1, r' "$PH_DIR/out/$f"
}

@test "tlspol removes results older than tlsrpt_results_lifetime and policies past their max_age, and keeps the rest" {
	mkdir -p "$PH_DIR/queue/tlspol/results" "$PH_DIR/queue/tlspol/sts"
	old=$(date -u -d '-10 days' +%F)
	recent=$(date -u -d '-2 days' +%F)
	: > "$PH_DIR/queue/tlspol/results/$old"
	: > "$PH_DIR/queue/tlspol/results/$recent"
	printf 'id one\nfetched %s\n\nversion: STSv1\nmode: enforce\nmx: a.test\nmax_age: 60\n' \
	    "$(( $(date +%s) - 3600 ))" > "$PH_DIR/queue/tlspol/sts/gone.test"
	printf 'id one\nfetched %s\n\nversion: STSv1\nmode: enforce\nmx: a.test\nmax_age: 86400\n' \
	    "$(( $(date +%s) - 3600 ))" > "$PH_DIR/queue/tlspol/sts/kept.test"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R posthorn-relay: "$PH_DIR/queue/tlspol"
	fi
	ph_start
	wait_log "tlspol: tlspol/sts/gone.test removed \(past its max_age\)"
	wait_log "tlspol: tlspol/results/$old removed \(older than tlsrpt_results_lifetime\)"
	[ -e "$PH_DIR/queue/tlspol/results/$recent" ]
	[ -e "$PH_DIR/queue/tlspol/sts/kept.test" ]
}

@test "posthorn-tlsrpt -m: the report goes by mail to the address of the domain's _smtp._tls record, as gzip in a multipart/report" {
	# One address that could be an option of sendmail (left out), one
	# with a header in its URI (cut off), one for another scheme.
	zone sts.test insecure \
	    '_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:-oQ/tmp@x.test,mailto:alice@localhost?subject=x,https://r.test/p"'
	zone other.test insecure "@ IN MX 10 mx" "mx IN A 127.0.0.1"
	dnssec_dns
	# Yesterday (UTC), the day reported when -d is not given.
	day=$(date -u -d '-1 day' +%F)
	begin=$(date -u -d "$day" +%s)
	mkdir -p "$PH_DIR/queue/tlspol/results"
	printf '%s\tsts.test\tsts\tversion: STSv1%%0Amode: enforce\tmx.sts.test\tcertificate-expired\t127.0.0.1\tmx.sts.test\t127.0.0.2\texpired\n' \
	    "$begin" > "$PH_DIR/queue/tlspol/results/$day"
	printf '%s\tother.test\tsts\tversion: STSv1%%0Amode: testing\tmx.other.test\tsuccess\t127.0.0.1\tmx.other.test\t127.0.0.3\t\n' \
	    "$begin" >> "$PH_DIR/queue/tlspol/results/$day"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R posthorn-relay: "$PH_DIR/queue/tlspol"
	fi
	ph_start
	run "$PH_BUILD/bin/posthorn-tlsrpt" -m -c "$PH_CONF"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"sts.test: report sent to alice@localhost"* ]]
	[[ "$output" == *"sts.test: a mailto: address that is not plain left out"* ]]
	[[ "$output" == *"sts.test: https://r.test/p left out (only mailto: is sent)"* ]]
	[ "$(grep -c "report sent" <<< "$output")" -eq 1 ]
	# other.test publishes no _smtp._tls record: nothing sent for it.
	[[ "$output" != *"other.test: report sent"* ]]
	ph_wait_mail alice 1
	/usr/bin/python3 - "$(ph_mail_file alice)" "$begin" <<'PY'
import email, gzip, json, sys
begin = int(sys.argv[2])
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "tlsrpt"
assert m["TLS-Report-Domain"] == "sts.test"
assert m["Subject"].startswith("Report Domain: sts.test Submitter: ")
parts = [p for p in m.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
assert len(parts) == 1
assert parts[0].get_filename().endswith(
    "!sts.test!%d!%d.json.gz" % (begin, begin + 86399)), parts[0].get_filename()
r = json.loads(gzip.decompress(parts[0].get_payload(decode=True)))
d = r["policies"][0]["failure-details"][0]
assert d["result-type"] == "certificate-expired" and d["failed-session-count"] == 1, r
PY
}
