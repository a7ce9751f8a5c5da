#!/usr/bin/env bats
# Relaying: the smtp agent, transport_map routes, relayhost, per-recipient
# results and retries, LMTP; all on loopback.

load lib
load relay_lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 1s
	ph_conf queue_run_delay 1s
}

teardown() {
	stop_b
	ph_teardown
}

@test "two posthorn instances: relayed through a transport map with STARTTLS, per-recipient results" {
	start_b
	transport "remote.test smtp:[127.0.0.1]:${bports[0]}"
	ph_start
	send alice@localhost alice@remote.test bob@remote.test nobody@remote.test
	for i in $(seq 1 100); do
		[ "$(find "$PH_DIR/b/mail" -path '*/new/*' -type f | wc -l)" -ge 2 ] && break
		sleep 0.05
	done
	[ "$(find "$PH_DIR/b/mail/alice" -path '*/new/*' -type f | wc -l)" -eq 1 ]
	[ "$(find "$PH_DIR/b/mail/bob" -path '*/new/*' -type f | wc -l)" -eq 1 ]
	f=$(find "$PH_DIR/b/mail/alice" -path '*/new/*' -type f)
	grep -q "^\.starts with a dot" "$f"
	grep -q "with ESMTPS id" "$f"
	wait_log "to=<alice@remote.test>, relay=127.0.0.1\[127.0.0.1\]:${bports[0]}, .*status=sent"
	wait_log "to=<nobody@remote.test>, relay=127.0.0.1\[127.0.0.1\]:${bports[0]}, .*dsn=5.1.1, status=bounced \(host .* said: 550 5.1.1"
	grep -q "STARTTLS from unknown\[127.0.0.1\]" "$PH_DIR/b.log"
	# The sender hears about the one that failed, and only that one.
	ph_wait_mail alice 1
	grep -q "nobody@remote.test" "$(ph_mail_file alice)"
	if grep -q "bob@remote.test.*5\." "$(ph_mail_file alice)"; then false; fi
}

@test "a 4xx for one recipient defers only that one; the retry sends only it" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport" \
	    --once "later@sink.test=450 4.2.1 mailbox busy, try later"
	transport "sink.test smtp:[127.0.0.1]:$sport"
	ph_start
	send s@localhost now@sink.test later@sink.test
	wait_log "to=<later@sink.test>, relay=127.0.0.1\[127.0.0.1\]:$sport, .*dsn=4.2.1, status=deferred"
	wait_log "to=<later@sink.test>, .*status=sent" 15
	# First transaction: only now@ accepted; second: only later@.
	[ "$(wc -l < "$PH_DIR/sink.log")" -eq 2 ]
	python3 - "$PH_DIR/sink.log" <<'PY'
import json, sys
tx = [json.loads(l) for l in open(sys.argv[1])]
assert [r.split(">")[0] for r in tx[0]["rcpt"]] == ["<now@sink.test"], tx[0]
assert [r.split(">")[0] for r in tx[1]["rcpt"]] == ["<later@sink.test"], tx[1]
assert tx[0]["mail"].startswith("FROM:<s@localhost>"), tx[0]
# No SIZE offered, none sent.
assert "SIZE=" not in tx[0]["mail"]
# Dot-stuffed on the wire.
assert "\r\n..starts with a dot\r\n" in tx[0]["raw"], tx[0]["raw"]
assert "\r\n.starts with a dot\r\n" in tx[0]["data"], tx[0]["data"]
PY
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "without PIPELINING the agent waits for each reply; DSN parameters are passed on" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport" --no-pipelining
	transport "sink.test smtp:[127.0.0.1]:$sport"
	ph_start
	python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.ehlo()
    s.mail("s@localhost", ["RET=HDRS", "ENVID=abc123"])
    s.rcpt("x@sink.test", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@sink.test"])
    s.data("Subject: dsn\r\n\r\nhi\r\n")
PY
	wait_log "to=<x@sink.test>, .*status=sent"
	# The next hop offers DSN: the success notice is its duty now.
	wait_log "to=<x@sink.test>: success notice left to the next hop"
	grep -q "RET=HDRS" "$PH_DIR/sink.log"
	grep -q "ENVID=abc123" "$PH_DIR/sink.log"
	grep -q "NOTIFY=SUCCESS,FAILURE" "$PH_DIR/sink.log"
	grep -q "ORCPT=rfc822;orig@sink.test" "$PH_DIR/sink.log"
}

@test "a message larger than the server's SIZE is bounced without being sent" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport" --size 100
	transport "sink.test smtp:[127.0.0.1]:$sport"
	ph_start
	send s@localhost big@sink.test
	wait_log "to=<big@sink.test>, .*dsn=5.3.4, status=bounced \(message size [0-9]+ exceeds size limit 100"
	[ ! -s "$PH_DIR/sink.log" ]
}

@test "relayhost: every other domain goes to the smarthost" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport" --size 100000
	ph_conf relayhost "[127.0.0.1]:$sport"
	ph_start
	send s@localhost a@one.example b@two.example alice@localhost
	wait_log "to=<a@one.example>, relay=127.0.0.1\[127.0.0.1\]:$sport, .*status=sent"
	wait_log "to=<b@two.example>, relay=127.0.0.1\[127.0.0.1\]:$sport, .*status=sent"
	ph_wait_mail alice 1
	# One transaction per destination (one next hop): both in one, with
	# the size the server was told (RFC 1870) being the size it got.
	[ "$(wc -l < "$PH_DIR/sink.log")" -eq 1 ]
	python3 - "$PH_DIR/sink.log" <<'PY'
import json, re, sys
tx = json.loads(open(sys.argv[1]).readline())
assert len(tx["rcpt"]) == 2, tx
size = int(re.search(r"SIZE=(\d+)", tx["mail"]).group(1))
assert size == len(tx["data"].encode()), (size, len(tx["data"]))
PY
}

@test "a server that is down: deferred with the reason, delivered once it is up" {
	sport=$(ph_free_ports 1)
	transport "sink.test smtp:[127.0.0.1]:$sport"
	ph_start
	send s@localhost x@sink.test
	wait_log "to=<x@sink.test>, relay=none, .*status=deferred \(connect to 127.0.0.1\[127.0.0.1\]:$sport: Connection refused"
	ph_sink "$PH_DIR/sink.log" --port "$sport"
	wait_log "to=<x@sink.test>, .*status=sent" 15
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "LMTP over a UNIX socket: one reply per recipient after DATA" {
	ph_sink "$PH_DIR/lmtp.log" --unix "$PH_DIR/lmtp.sock" --lmtp \
	    --data "full@lmtp.test=452 4.2.2 mailbox full" \
	    --data "gone@lmtp.test=550 5.1.1 no such user"
	transport "lmtp.test lmtp:unix:$PH_DIR/lmtp.sock"
	ph_start
	send s@localhost ok@lmtp.test full@lmtp.test gone@lmtp.test
	wait_log "to=<ok@lmtp.test>, relay=$PH_DIR/lmtp.sock, .*status=sent"
	wait_log "to=<full@lmtp.test>, .*dsn=4.2.2, status=deferred"
	wait_log "to=<gone@lmtp.test>, .*dsn=5.1.1, status=bounced"
	grep -q '"helo": "LHLO ' "$PH_DIR/lmtp.log"
}

@test "an unknown transport in the map defers, it does not bounce" {
	transport "odd.test frobnicate:somewhere"
	ph_start
	send s@localhost x@odd.test
	wait_log "to=<x@odd.test>, relay=none, .*dsn=4.3.5, status=deferred \(transport_map: unknown transport 'frobnicate'"
}

@test "MX routing: preference order, the next MX when one is down, the domain itself without MX" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport"
	# mx1 (preferred) is an address where nothing listens.
	dns --mx-host=mx.test,mx1.test,10 --mx-host=mx.test,mx2.test,20 \
	    --host-record=mx1.test,127.0.0.3 --host-record=mx2.test,127.0.0.1 \
	    --host-record=amx.test,127.0.0.1
	ph_conf smtp_port "$sport"
	ph_start
	send s@localhost a@mx.test b@amx.test
	wait_log "to=<a@mx.test>, relay=mx2.test\[127.0.0.1\]:$sport, .*status=sent"
	wait_log "to=<b@amx.test>, relay=amx.test\[127.0.0.1\]:$sport, .*status=sent"
	[ "$(wc -l < "$PH_DIR/sink.log")" -eq 2 ]
}

@test "MX routing: a null MX (RFC 7505) and a domain that does not exist bounce at once" {
	dns --dns-rr=null.test,15,000000
	ph_start
	send alice@localhost x@null.test y@nxdomain.test
	wait_log "to=<x@null.test>, relay=none, .*dsn=5.1.10, status=bounced \(Domain null.test does not accept mail \(null MX"
	wait_log "to=<y@nxdomain.test>, relay=none, .*dsn=5.1.2, status=bounced \(Host or domain name not found"
	ph_wait_mail alice 1
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "equal MX preferences share the load" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport"
	dns --mx-host=eq.test,a.test,10 --mx-host=eq.test,b.test,10 \
	    --host-record=a.test,127.0.0.1 --host-record=b.test,127.0.0.1
	ph_conf smtp_port "$sport"
	# Every message on a new connection (reuse would keep one host).
	ph_conf smtp_connection_cache_time_limit 0
	ph_start
	for i in $(seq 1 16); do send s@localhost "u$i@eq.test"; done
	for i in $(seq 1 200); do
		[ "$(grep -c 'status=sent' "$PH_LOG")" -ge 16 ] && break
		sleep 0.05
	done
	a=$(grep -c "relay=a.test\[" "$PH_LOG")
	b=$(grep -c "relay=b.test\[" "$PH_LOG")
	echo "a=$a b=$b"
	# Both are used (all 16 on one side: 2 * 2^-16 by chance).
	[ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ $((a + b)) -eq 16 ]
}

@test "bounces are RFC 3464 reports: parts, per-recipient fields, original message (python email)" {
	sport=$(ph_free_ports 1)
	# No DSN at the next hop: we owe the sender a "relayed" notice.
	ph_sink "$PH_DIR/sink.log" --port "$sport" --no-dsn \
	    --rcpt "gone@sink.test=550 5.1.1 no such user here"
	transport "sink.test smtp:[127.0.0.1]:$sport"
	ph_start
	python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.ehlo()
    s.mail("alice@localhost", ["ENVID=env+2D7"])
    s.rcpt("gone@sink.test", ["NOTIFY=FAILURE", "ORCPT=rfc822;first@orig.test"])
    s.rcpt("fine@sink.test", ["NOTIFY=SUCCESS"])
    s.data("Subject: report me\r\nMessage-ID: <m1@test>\r\n\r\nthe body\r\n")
PY
	ph_wait_mail alice 2
	run python3 - "$PH_MAIL/alice/Maildir/new" <<'PY'
import email, email.policy, os, sys
d = sys.argv[1]
msgs = [email.message_from_binary_file(open(os.path.join(d, f), "rb"),
        policy=email.policy.default) for f in os.listdir(d)]
bounce = [m for m in msgs if m["Subject"].startswith("Undelivered")][0]
success = [m for m in msgs if m["Subject"].startswith("Successful")][0]
for m, action in ((bounce, "failed"), (success, "relayed")):
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    assert m.get_param("report-type") == "delivery-status"
    parts = list(m.iter_parts())
    assert [p.get_content_type() for p in parts][:2] == \
        ["text/plain", "message/delivery-status"], parts
    ds = parts[1].get_payload()	# per-message block, then per-recipient
    fields = {}
    for block in ds:
        for k, v in block.items():
            fields.setdefault(k, []).append(str(v))
    assert fields["Reporting-MTA"][0].startswith("dns;"), fields
    assert fields["Original-Envelope-Id"] == ["env-7"], fields
    assert fields["Action"] == [action], fields
    print(action, fields["Final-Recipient"], fields["Status"])
    if action == "failed":
        assert fields["Final-Recipient"] == ["rfc822; gone@sink.test"]
        assert fields["Original-Recipient"] == ["rfc822; first@orig.test"]
        assert fields["Status"] == ["5.1.1"]
        assert fields["Remote-MTA"] == ["dns; 127.0.0.1"]
        assert fields["Diagnostic-Code"][0].startswith("smtp; 550 5.1.1 no such user here")
        assert parts[2].get_content_type() == "message/rfc822"
        orig = parts[2].get_payload()[0]
        assert orig["Message-ID"] == "<m1@test>"
        assert "the body" in orig.get_content()
    else:
        assert fields["Final-Recipient"] == ["rfc822; fine@sink.test"]
        assert fields["Status"] == ["2.0.0"]
        # A success notice returns the headers only.
        assert parts[2].get_content_type() == "text/rfc822-headers"
        assert "the body" not in parts[2].get_content()
PY
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "per-destination concurrency: never more connections than the limit, and a slow site does not hold up another" {
	slow=$(ph_free_ports 1)
	fast=$(ph_free_ports 1)
	ph_sink "$PH_DIR/slow.log" --port "$slow" --slow 1
	ph_sink "$PH_DIR/fast.log" --port "$fast"
	transport "slow.test smtp:[127.0.0.1]:$slow" \
	    "fast.test smtp:[127.0.0.1]:$fast"
	ph_conf smtp_destination_concurrency_limit 2
	ph_conf smtp_initial_destination_concurrency 2
	ph_start
	for i in 1 2 3 4 5 6; do send s@localhost "u$i@slow.test"; done
	send s@localhost "f@fast.test"
	# The fast site's mail is through while the slow site still works.
	wait_log "to=<f@fast.test>, .*status=sent" 5
	[ "$(grep -c 'slow.test>, .*status=sent' "$PH_LOG")" -lt 6 ]
	for i in $(seq 1 200); do
		[ "$(grep -c 'slow.test>, .*status=sent' "$PH_LOG")" -eq 6 ] && break
		sleep 0.05
	done
	[ "$(grep -c 'slow.test>, .*status=sent' "$PH_LOG")" -eq 6 ]
	[ "$(cat "$PH_DIR/slow.log.max")" -le 2 ]
	[ "$(cat "$PH_DIR/slow.log.max")" -eq 2 ]
}

@test "a dead destination: marked after a failed connection, its mail deferred without new attempts" {
	dport=$(ph_free_ports 1)
	transport "dead.test smtp:[127.0.0.1]:$dport"
	ph_conf smtp_initial_destination_concurrency 1
	ph_conf minimal_backoff_time 30s
	ph_conf maximal_backoff_time 60s
	ph_start
	send s@localhost a@dead.test
	wait_log "destination smtp:\[127.0.0.1\]:$dport marked dead for 30s: connect to"
	send s@localhost b@dead.test
	wait_log "to=<b@dead.test>, relay=none, .*dsn=4.4.1, status=deferred \(delivery temporarily suspended: connect to 127.0.0.1\[127.0.0.1\]:$dport: Connection refused"
	# One connection attempt in all: the first message's.
	[ "$(grep -c "status=deferred (connect to 127.0.0.1\[127.0.0.1\]:$dport: Connection refused" "$PH_LOG")" -eq 1 ]
	[ "$(ph_queue_files)" -eq 2 ]
}

@test "delay warning: one notice once a message is delay_warning_time old, and no more" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport" \
	    --rcpt "slow@sink.test=450 4.2.1 not now"
	transport "sink.test smtp:[127.0.0.1]:$sport"
	ph_conf delay_warning_time 2s
	ph_start
	send alice@localhost slow@sink.test
	ph_wait_mail alice 1 15
	f=$(ph_mail_file alice)
	grep -q "^Subject: Delayed Mail (still being retried)" "$f"
	grep -q "^Action: delayed" "$f"
	grep -q "^Will-Retry-Until: " "$f"
	grep -q "^Diagnostic-Code: smtp; 450 4.2.1 not now" "$f"
	# The reason is kept in the queue file with the recipient.
	grep -rqa "said: 450 4.2.1 not now" "$PH_DIR/queue/deferred" "$PH_DIR/queue/active"
	# Another retry (back-off doubles), no second notice.
	n=$(grep -c "to=<slow@sink.test>, .*status=deferred" "$PH_LOG")
	for i in $(seq 1 200); do
		[ "$(grep -c "to=<slow@sink.test>, .*status=deferred" "$PH_LOG")" -ge $((n + 1)) ] && break
		sleep 0.05
	done
	[ "$(grep -c "to=<slow@sink.test>, .*status=deferred" "$PH_LOG")" -ge $((n + 1)) ]
	[ "$(ph_count_mail alice)" -eq 1 ]
}

@test "rate limit per destination: the map's limit holds mail back, other destinations are not affected" {
	limited=$(ph_free_ports 1)
	free=$(ph_free_ports 1)
	ph_sink "$PH_DIR/limited.log" --port "$limited"
	ph_sink "$PH_DIR/free.log" --port "$free" --addr 127.0.0.2
	transport "limited.test smtp:[127.0.0.1]:$limited" \
	    "free.test smtp:[127.0.0.2]:$free"
	# Keys are next-hop hosts: 127.0.0.1 is limited, 127.0.0.2 is not.
	printf '127.0.0.1 2/1h\n' > "$PH_CONF/rates"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/rates"
	ph_conf smtp_destination_rate_map "hash:$PH_CONF/rates"
	ph_start
	for i in 1 2 3 4; do send s@localhost "l$i@limited.test"; done
	for i in 1 2 3 4; do send s@localhost "f$i@free.test"; done
	for i in $(seq 1 200); do
		[ "$(grep -c 'free.test>, .*status=sent' "$PH_LOG")" -eq 4 ] &&
		    [ "$(grep -c 'limited.test>, .*status=sent' "$PH_LOG")" -ge 2 ] && break
		sleep 0.05
	done
	sleep 1
	[ "$(grep -c 'free.test>, .*status=sent' "$PH_LOG")" -eq 4 ]
	# Two connections in the hour; the other two messages are deferred.
	[ "$(grep -c 'limited.test>, .*status=sent' "$PH_LOG")" -eq 2 ]
	grep -q "limited.test>, relay=none, .*dsn=4.4.5, status=deferred (delivery rate limit of 2 per 3600s for smtp:\[127.0.0.1\]:$limited reached)" "$PH_LOG"
	[ "$(wc -l < "$PH_DIR/limited.log")" -eq 2 ]
	[ "$(ph_queue_files)" -eq 2 ]
}

@test "a bad rate limit is a configuration error" {
	ph_conf smtp_destination_rate_limit "fast"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"smtp_destination_rate_limit: expected N/time"* ]]
}

@test "TLS policy verify: a certificate from the trusted CA for the right name passes, another is refused" {
	start_b
	transport "remote.test smtp:[127.0.0.1]:${bports[0]}"
	printf '[127.0.0.1]:%s verify\n' "${bports[0]}" > "$PH_CONF/tls_policy"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/tls_policy"
	ph_conf smtp_tls_policy_map "hash:$PH_CONF/tls_policy"
	# B's self-signed certificate (for localhost and 127.0.0.1) as the CA.
	ph_conf smtp_tls_CAfile "$PH_DIR/b/etc/tls/cert.pem"
	ph_start
	send s@localhost alice@remote.test
	wait_log "to=<alice@remote.test>, relay=127.0.0.1\[127.0.0.1\]:${bports[0]}, .*status=sent"
	ph_stop
	# Another CA: the same server is no longer trusted, and no fallback.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -days 30 -subj /CN=other -keyout "$PH_DIR/other.key" \
	    -out "$PH_DIR/other.pem" 2>/dev/null
	ph_conf smtp_tls_CAfile "$PH_DIR/other.pem"
	ph_start
	send s@localhost bob@remote.test
	wait_log "to=<bob@remote.test>, relay=none, .*dsn=4.7.5, status=deferred \(server certificate of 127.0.0.1\[127.0.0.1\]:${bports[0]} not verified"
	[ "$(b_mail bob)" -eq 0 ]
}

@test "smarthost with AUTH: credentials from smtp_sasl_password_map, only over TLS; a wrong password defers" {
	start_b
	pw=$(cat "$PH_DIR/b/etc/demo-password")
	ph_conf relayhost "[127.0.0.1]:${bports[1]}"
	printf '[127.0.0.1]:%s alice:%s\n' "${bports[1]}" "$pw" > "$PH_CONF/sasl"
	chmod 600 "$PH_CONF/sasl"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/sasl"
	if [ "$(id -u)" -eq 0 ]; then
		chown posthorn-relay "$PH_CONF/sasl" "$PH_CONF/sasl.db"
	fi
	ph_conf smtp_sasl_password_map "hash:$PH_CONF/sasl"
	ph_start
	send alice@localhost bob@remote.test
	wait_log "to=<bob@remote.test>, relay=127.0.0.1\[127.0.0.1\]:${bports[1]}, .*status=sent"
	b_wait_mail bob 1
	grep -q "AUTH from unknown\[127.0.0.1\]: method=PLAIN, username=alice" "$PH_DIR/b.log"
	grep -q "(Authenticated sender: alice)" "$(find "$PH_DIR/b/mail/bob" -path '*/new/*' -type f)"
	if grep -qF "$pw" "$PH_LOG"; then false; fi
	# A wrong password: deferred with the server's answer, nothing sent.
	printf '[127.0.0.1]:%s alice:wrong\n' "${bports[1]}" > "$PH_CONF/sasl"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/sasl"
	if [ "$(id -u)" -eq 0 ]; then
		chown posthorn-relay "$PH_CONF/sasl" "$PH_CONF/sasl.db"
	fi
	send alice@localhost alice@remote.test
	wait_log "to=<alice@remote.test>, relay=none, .*dsn=4.7.0, status=deferred \(SASL authentication failed; server 127.0.0.1\[127.0.0.1\]:${bports[1]} said: 535 5.7.8" 10
	[ "$(b_mail alice)" -eq 0 ]
}

@test "BDAT when offered: binary content (BINARYMIME) relayed byte for byte; to a server without CHUNKING it bounces 5.6.3" {
	start_b
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport"
	transport "remote.test smtp:[127.0.0.1]:${bports[0]}" \
	    "sink.test smtp:[127.0.0.1]:$sport"
	ph_start
	python3 - "$PH_PORT" "$PH_DIR/sent.bin" <<'PY'
import socket, sys
body = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\r\n" + \
    bytes(range(256)) + b"\r\n.\r\nbare\rcr and bare\nlf\r\n"
open(sys.argv[2], "wb").write(body)
for rcpt in (b"alice@remote.test", b"x@sink.test"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    f = s.makefile("rb")
    def reply():
        while True:
            l = f.readline()
            if l[3:4] != b"-":
                return l
    reply()
    s.sendall(b"EHLO x\r\n"); reply()
    s.sendall(b"MAIL FROM:<alice@localhost> BODY=BINARYMIME\r\n"); assert reply().startswith(b"250")
    s.sendall(b"RCPT TO:<" + rcpt + b">\r\n"); assert reply().startswith(b"250")
    s.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
    r = reply()
    assert r.startswith(b"250"), r
    s.sendall(b"QUIT\r\n"); reply()
PY
	b_wait_mail alice 1
	f=$(find "$PH_DIR/b/mail/alice" -path '*/new/*' -type f)
	# The body after the trace headers is exactly what was sent.
	python3 - "$f" "$PH_DIR/sent.bin" <<'PY'
import sys
got = open(sys.argv[1], "rb").read()
sent = open(sys.argv[2], "rb").read()
assert got.endswith(sent.split(b"\r\n\r\n", 1)[1]), got[-80:]
PY
	# B saw BDAT commands, not DATA (logged once the session ends).
	for i in $(seq 1 100); do
		grep -q "disconnect from .* bdat=[0-9]" "$PH_DIR/b.log" && break
		sleep 0.1
	done
	grep -q "disconnect from .* bdat=[0-9]" "$PH_DIR/b.log"
	wait_log "to=<x@sink.test>, .*dsn=5.6.3, status=bounced"
}

@test "transport hold: the message goes to hold/ after the other recipients are delivered" {
	transport "held.test hold"
	ph_start
	send alice@localhost x@held.test bob@localhost
	wait_log "held \(transport_map hold\); it waits in hold/"
	ph_wait_mail bob 1
	[ "$(find "$PH_DIR/queue/hold" -type f | wc -l)" -eq 1 ]
	[ "$(ph_queue_files)" -eq 0 ]
	grep -q "to=<x@held.test>, relay=none, .*status=deferred (on hold" "$PH_LOG"
}

@test "a bad dns_resolver is a configuration error, not an agent in a restart loop" {
	ph_conf dns_resolver "not-an-address"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"dns_resolver: expected an IPv4 address[:port]"* ]]
}

@test "a domain that does not exist bounces every time; it does not mark its destination dead" {
	dns
	ph_conf smtp_initial_destination_concurrency 1
	ph_start
	send alice@localhost a@gone.test
	wait_log "to=<a@gone.test>, .*dsn=5.1.2, status=bounced"
	send alice@localhost b@gone.test
	wait_log "to=<b@gone.test>, .*dsn=5.1.2, status=bounced"
	if grep -q "marked dead" "$PH_LOG"; then false; fi
}

@test "local_timeout must leave room for a relay attempt" {
	ph_conf local_timeout 500s
	ph_conf command_time_limit 100s
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"local_timeout must be longer than smtp_data_done_timeout + smtp_connect_timeout"* ]]
}

@test "MX loops: as the best MX of a domain we bounce 5.4.6; as a backup MX we relay to the better one" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport"
	dns --mx-host=loop.test,mx.me.test,10 \
	    --mx-host=backup.test,primary.test,10 \
	    --mx-host=backup.test,mx.me.test,20 \
	    --host-record=primary.test,127.0.0.1 \
	    --host-record=mx.me.test,127.0.0.1
	ph_conf myhostname mx.me.test
	ph_conf smtp_port "$sport"
	ph_start
	send alice@localhost a@loop.test b@backup.test
	wait_log "to=<a@loop.test>, relay=none, .*dsn=5.4.6, status=bounced \(mail for loop.test loops back to myself"
	wait_log "to=<b@backup.test>, relay=primary.test\[127.0.0.1\]:$sport, .*status=sent"
	[ "$(wc -l < "$PH_DIR/sink.log")" -eq 1 ]
}

@test "an alias to another domain: a copy is queued and relayed with the original sender" {
	sport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$sport"
	transport "remote.test smtp:[127.0.0.1]:$sport"
	echo "team: alice, friend@remote.test, other@remote.test" >> "$PH_CONF/aliases"
	ph_maps
	ph_start
	send bob@localhost team@localhost
	ph_wait_mail alice 1
	wait_log "to=<friend@remote.test>, relay=127.0.0.1\[127.0.0.1\]:$sport, .*status=sent"
	wait_log "forwarded to 2 addresses in other domains"
	python3 - "$PH_DIR/sink.log" <<'PY'
import json, sys
tx = [json.loads(l) for l in open(sys.argv[1])]
assert len(tx) == 1, tx
assert tx[0]["mail"].startswith("FROM:<bob@localhost>"), tx[0]
assert sorted(r.split(">")[0] for r in tx[0]["rcpt"]) == \
    ["<friend@remote.test", "<other@remote.test"], tx[0]
assert "Subject: relayed" in tx[0]["data"]
PY
	sleep 0.5
	[ "$(ph_queue_files)" -eq 0 ]
}

# conns LOG: the connection number of each transaction the sink took.
conns() {
	python3 -c 'import json,sys
print(" ".join(str(json.loads(l)["conn"]) for l in open(sys.argv[1])))' "$1"
}

# reuse_setup [SINK OPTIONS]: a sink for reuse.test, one connection at a time.
reuse_setup() {
	rport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/reuse.log" --port "$rport" "$@"
	transport "reuse.test smtp:[127.0.0.1]:$rport"
	ph_conf smtp_destination_concurrency_limit 1
	ph_conf smtp_initial_destination_concurrency 1
}

@test "connection reuse: the next messages to a destination go over the open session, after RSET" {
	reuse_setup
	ph_start
	for i in 1 2 3; do send s@localhost "u$i@reuse.test"; done
	wait_sent reuse.test 3
	[ "$(conns "$PH_DIR/reuse.log")" = "1 1 1" ]
	# Each message after the first was preceded by an RSET.
	python3 - "$PH_DIR/reuse.log" <<'PY'
import json, sys
assert [json.loads(l)["rset"] for l in open(sys.argv[1])] == [0, 1, 2]
PY
	grep -q "reusing the connection to 127.0.0.1\[127.0.0.1\]:$rport (message 3 on it)" "$PH_LOG"
	# Idle past smtp_connection_cache_time_limit (2s): closed with QUIT.
	[ "$(cat "$PH_DIR/reuse.log.max")" = 1 ]
	for i in $(seq 1 100); do
		[ "$(cat "$PH_DIR/reuse.log.now")" = 0 ] && break
		sleep 0.1
	done
	[ "$(cat "$PH_DIR/reuse.log.now")" = 0 ]
}

@test "connection reuse: a session the server dropped is noticed at RSET and the message takes a new one" {
	reuse_setup --drop-after 1
	ph_start
	for i in 1 2; do send s@localhost "u$i@reuse.test"; done
	wait_sent reuse.test 2
	[ "$(conns "$PH_DIR/reuse.log")" = "1 2" ]
	grep -q "cached connection to 127.0.0.1\[127.0.0.1\]:$rport is gone; connecting again" "$PH_LOG"
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "connection reuse limits: smtp_connection_reuse_count_limit, and a cache time of 0 turns reuse off" {
	reuse_setup
	ph_conf smtp_connection_reuse_count_limit 2
	ph_start
	for i in 1 2 3; do send s@localhost "u$i@reuse.test"; done
	wait_sent reuse.test 3
	[ "$(conns "$PH_DIR/reuse.log")" = "1 1 2" ]
	ph_stop
	: > "$PH_DIR/reuse.log"
	ph_conf smtp_connection_cache_time_limit 0
	ph_start
	for i in 4 5 6; do send s@localhost "u$i@reuse.test"; done
	wait_sent reuse.test 6
	[ "$(conns "$PH_DIR/reuse.log")" = "3 4 5" ]
	[ "$(grep -c "reusing the connection" "$PH_LOG")" -eq 1 ]
}

@test "connection reuse: an idle session gives way when another destination needs the agent" {
	aport=$(ph_free_ports 1)
	bport=$(ph_free_ports 1)
	ph_sink "$PH_DIR/a.log" --port "$aport"
	ph_sink "$PH_DIR/b.log" --port "$bport"
	transport "a.test smtp:[127.0.0.1]:$aport" "b.test smtp:[127.0.0.1]:$bport"
	# One relay agent, kept by a.test's session for up to a minute.
	sed -i 's/^relay \(.*\) smtp  *20 /relay \1 smtp 1 /' "$PH_CONF/master.conf"
	grep -q '^relay .* smtp 1 ' "$PH_CONF/master.conf"
	ph_conf smtp_concurrency_limit 1
	ph_conf smtp_connection_cache_time_limit 60s
	ph_start
	send s@localhost u@a.test
	wait_sent a.test 1
	[ "$(cat "$PH_DIR/a.log.now")" = 1 ]
	send s@localhost u@b.test
	wait_sent b.test 1
	[ "$(cat "$PH_DIR/a.log.now")" = 0 ]
}

@test "flush of one domain: only its messages and its recipients are tried; the rest keep their retry time" {
	aport=$(ph_free_ports 1)
	bport=$(ph_free_ports 1)
	transport "a.test smtp:[127.0.0.1]:$aport" "b.test smtp:[127.0.0.1]:$bport"
	ph_conf minimal_backoff_time 1h
	ph_conf maximal_backoff_time 2h
	# One failed connection marks a destination dead (for an hour).
	ph_conf smtp_initial_destination_concurrency 1
	ph_start
	send s@localhost u@a.test
	wait_log "destination smtp:\[127.0.0.1\]:$aport marked dead for 3600s"
	send s@localhost u@b.test
	send s@localhost x@a.test y@b.test
	for i in $(seq 1 200); do
		[ "$(grep -c 'status=deferred' "$PH_LOG")" -ge 4 ] && break
		sleep 0.05
	done
	[ "$(ph_queue_files)" -eq 3 ]
	mixed=$(deferred_file "y@b.test")
	[ -n "$mixed" ]
	before=$(stat -c %Y "$mixed")
	ph_sink "$PH_DIR/a.log" --port "$aport"
	run pq flush a.test
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "2 messages of a.test queued for delivery" ]
	wait_sent "u@a.test" 1
	wait_sent "x@a.test" 1
	grep -q "flush of a.test requested (uid $(id -u)): 2 messages started" "$PH_LOG"
	grep -q "flush: destination smtp:\[127.0.0.1\]:$aport tried again before its time" "$PH_LOG"
	# b.test was not tried again: one deferral each, as before.
	[ "$(grep -c 'to=<u@b.test>, .*status=deferred' "$PH_LOG")" -eq 1 ]
	[ "$(grep -c 'to=<y@b.test>, .*status=deferred' "$PH_LOG")" -eq 1 ]
	# The mixed message waits again, with the retry time it had.
	for i in $(seq 1 100); do [ -n "$(deferred_file "y@b.test")" ] && break; sleep 0.05; done
	[ "$(stat -c %Y "$(deferred_file "y@b.test")")" -eq "$before" ]
	[ "$(ph_queue_files)" -eq 2 ]
	# Nothing left for a.test.
	run pq flush a.test
	[ "$output" = "0 messages of a.test queued for delivery" ]
}

@test "flush @domain takes the subdomains; the index survives a restart; flush without a domain takes all" {
	port=$(ph_free_ports 1)
	ph_conf relayhost "[127.0.0.1]:$port"
	ph_conf minimal_backoff_time 1h
	ph_conf maximal_backoff_time 2h
	ph_start
	send s@localhost u@x.sub.test
	send s@localhost v@sub.test
	send s@localhost w@other.test
	for i in $(seq 1 200); do
		[ "$(grep -c 'status=deferred' "$PH_LOG")" -ge 3 ] && break
		sleep 0.05
	done
	ph_stop
	ph_start
	wait_log "deferred queue: 3 messages indexed by domain"
	ph_sink "$PH_DIR/sink.log" --port "$port"
	run pq flush sub.test
	[ "$output" = "1 message of sub.test queued for delivery" ]
	wait_sent "v@sub.test" 1
	run pq flush @sub.test
	[ "$output" = "1 message of sub.test and its subdomains queued for delivery" ]
	wait_sent "u@x.sub.test" 1
	if grep -q "to=<w@other.test>, .*status=sent" "$PH_LOG"; then false; fi
	run pq flush
	[ "$output" = "1 message of the deferred queue queued for delivery" ]
	wait_sent "w@other.test" 1
	[ "$(ph_queue_files)" -eq 0 ]
	run pq flush "bad domain"
	[ "$status" -eq 64 ]
}

@test "MX loops by address: an MX at our own address and port is this host, whatever its name" {
	# The instance listens on 127.0.0.1:PH_PORT; a sink on 127.0.0.2 at
	# the same port is another host.
	ph_sink "$PH_DIR/sink.log" --addr 127.0.0.2 --port "$PH_PORT"
	dns --mx-host=loop.test,other-name.test,10 \
	    --mx-host=backup.test,primary.test,10 \
	    --mx-host=backup.test,other-name.test,20 \
	    --host-record=primary.test,127.0.0.2 \
	    --host-record=other-name.test,127.0.0.1 \
	    --host-record=nomx.test,127.0.0.1
	ph_conf smtp_port "$PH_PORT"
	transport "literal.test smtp:[127.0.0.1]:$PH_PORT"
	ph_start
	send alice@localhost a@loop.test b@backup.test c@nomx.test d@literal.test
	wait_log "to=<a@loop.test>, relay=none, .*dsn=5.4.6, status=bounced \(mail for loop.test loops back to myself \(other-name.test is its best MX host\)"
	wait_log "to=<b@backup.test>, relay=primary.test\[127.0.0.2\]:$PH_PORT, .*status=sent"
	wait_log "to=<c@nomx.test>, relay=none, .*dsn=5.4.6, status=bounced \(mail for nomx.test loops back to myself"
	wait_log "to=<d@literal.test>, relay=none, .*dsn=5.4.6, status=bounced \(mail for \[127.0.0.1\]:$PH_PORT loops back to myself \(the next hop is this host's own SMTP service\)"
	[ "$(wc -l < "$PH_DIR/sink.log")" -eq 1 ]
}

@test "proxy_interfaces: an MX at a listed address is this host; a bad address is a configuration error" {
	sport=$(ph_free_ports 1)
	dns --mx-host=nat.test,gw.test,10 --host-record=gw.test,127.0.0.9
	ph_conf smtp_port "$sport"
	ph_conf proxy_interfaces "192.0.2.1, 127.0.0.9"
	ph_start
	send alice@localhost a@nat.test
	wait_log "to=<a@nat.test>, relay=none, .*dsn=5.4.6, status=bounced \(mail for nat.test loops back to myself \(gw.test is its best MX host\)"
	ph_stop
	ph_conf proxy_interfaces "gateway"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"proxy_interfaces: 'gateway' is not an IP address"* ]]
}

@test "a server that sends more after its 220 to STARTTLS (response injection) is left with 4.7.5, nothing sent" {
	sport=$(ph_free_ports 1)
	/usr/bin/python3 - "$sport" "$PH_DIR/inject.log" <<'PY' &
import socket, sys
port, log = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(5)
def serve(c):
    f = c.makefile("rb")
    c.sendall(b"220 evil ESMTP\r\n")
    while True:
        line = f.readline()
        if not line:
            break
        open(log, "a").write(line.decode("latin-1"))
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO"):
            c.sendall(b"250-evil\r\n250 STARTTLS\r\n")
        elif cmd == b"STARTTLS":
            # The 220 and, in the same write, a forged EHLO answer.
            c.sendall(b"220 go ahead\r\n250-evil\r\n250 AUTH PLAIN\r\n")
        elif cmd == b"QUIT":
            c.sendall(b"221 bye\r\n")
            break
        else:
            c.sendall(b"250 ok\r\n")
while True:
    c, _ = srv.accept()
    try:
        serve(c)
    except OSError:
        pass
    c.close()
PY
	PH_SINKS+=($!)
	ph_wait_listen "$sport"
	transport "remote.test smtp:[127.0.0.1]:$sport"
	ph_start
	send s@localhost alice@remote.test
	wait_log "to=<alice@remote.test>, relay=none, .*dsn=4.7.5, status=deferred \(host 127.0.0.1\[127.0.0.1\]:$sport sent data after its 220 to STARTTLS \(command injection\?\)"
	if grep -q "^MAIL FROM" "$PH_DIR/inject.log"; then false; fi
}
