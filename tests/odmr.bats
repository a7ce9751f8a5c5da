#!/usr/bin/env bats
# On-Demand Mail Relay (RFC 2645): the provider (this instance) keeps the
# mail of remote.test (transport "odmr") until its customer logs in on
# the ODMR service and sends ATRN; the customer (instance B, with
# posthorn-atrn) then takes it over the same connection.

load lib
load relay_lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 1h
	ph_conf maximal_backoff_time 2h
	ph_conf relay_domains "remote.test, other.test"
	ODMR_PORT=$(awk '$1 == "odmr" { sub(/.*:/, "", $2); print $2 }' "$PH_CONF/master.conf")
	printf '%s\n' "alice remote.test" "bob other.test" > "$PH_CONF/odmr-domains"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/odmr-domains"
	ph_conf odmr_domain_map "hash:$PH_CONF/odmr-domains"
	transport "remote.test odmr" "other.test odmr"
}

teardown() {
	stop_b
	ph_teardown
}

waiting() {
	for i in $(seq 1 200); do
		[ "$(grep -c 'status=deferred.*ODMR, RFC 2645' "$PH_LOG")" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# atrn ARGS...: posthorn-atrn as alice against our ODMR service, handing
# the mail to B's smtpd.
atrn() {
	"$PH_BUILD/bin/posthorn-atrn" -v -C "$PH_CONF/tls/cert.pem" -H localhost \
	    -u alice -p "$PH_CONF/demo-password" -l "127.0.0.1:${bports[0]}" \
	    "127.0.0.1:$ODMR_PORT" "$@"
}

# odmr_py SCRIPT: Python with "c" an smtplib session on the ODMR service,
# after STARTTLS and, unless NOAUTH is set, AUTH as alice.
odmr_py() {
	python3 - "$ODMR_PORT" "$(cat "$PH_CONF/demo-password")" "${NOAUTH:-}" "$1" <<'PY'
import smtplib, ssl, sys, socket, time
port, password, noauth, script = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = smtplib.SMTP("127.0.0.1", port, timeout=30)
c.ehlo("customer.test")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
c.starttls(context=ctx)
c.ehlo("customer.test")
if not noauth:
    c.login("alice", password)
exec(script)
PY
}

@test "ATRN: the customer takes its deferred mail over the same connection, once; then 453" {
	start_b
	ph_start
	send s@example.org bob@remote.test
	send s@example.org alice@remote.test bob@remote.test
	send s@example.org bob@remote.test
	waiting 4
	[ "$(ph_queue_files)" -eq 3 ]
	run atrn remote.test
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"250 2.0.0 OK now reversing the connection"* ]]
	[[ "$output" == *"certificate verified"* ]]
	b_wait_mail bob 3
	b_wait_mail alice 1
	[ "$(grep -c 'to=<bob@remote.test>, relay=odmr:alice\[127.0.0.1\].*status=sent' "$PH_LOG")" -eq 3 ]
	grep -q "ATRN from alice\[127.0.0.1\]#1 for remote.test: 3 messages started" "$PH_LOG"
	grep -q "ODMR session alice\[127.0.0.1\]#1 ended: 4 recipients delivered" "$PH_LOG"
	[ "$(ph_queue_files)" -eq 0 ]
	# One connection carried them all, each message once.
	for i in $(seq 1 100); do
		grep -q 'disconnect from' "$PH_DIR/b.log" && break
		sleep 0.05
	done
	grep -q 'disconnect from .* ehlo=1 mail=3 rcpt=4 rset=2 quit=1' "$PH_DIR/b.log"
	run atrn remote.test
	[ "$status" -eq 0 ]
	[[ "$output" == *"453 4.3.0 You have no mail"* ]]
	b_wait_mail bob 3
	# Without a domain: all of the login's.
	send s@example.org bob@remote.test
	waiting 5
	run atrn
	[ "$status" -eq 0 ]
	b_wait_mail bob 4
}

@test "ATRN refusals: not on the SMTP port, not before AUTH, not for another's domain, only ODMR verbs" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send ATRN remote.test\r\n
expect 502 5.5.1 Error: ATRN is offered on the ODMR service only
send QUIT\r\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"250-ATRN"* ]]
	NOAUTH=1 run odmr_py '
print(c.ehlo_resp.decode())
print(c.docmd("ATRN remote.test"))
print(c.docmd("MAIL FROM:<a@b.test>"))
print(c.docmd("VRFY alice"))'
	echo "$output"
	[[ "$output" == *"ATRN"* ]]
	[[ "$output" != *"PIPELINING"* ]]
	[[ "$output" == *"(530, b'5.7.0 Authentication required')"* ]]
	[[ "$output" == *"(502, b'5.5.1 Error: this is the ODMR service (RFC 2645): EHLO, STARTTLS, AUTH, then ATRN')"* ]]
	run odmr_py '
print(c.docmd("ATRN other.test"))
print(c.docmd("ATRN remote.test,other.test"))
print(c.docmd("ATRN remote.test"))
print(c.docmd("ATRN bad/domain"))'
	echo "$output"
	[[ "$output" == *"(450, b'4.7.1 Access denied to you: other.test is not a domain of alice')"* ]]
	[ "$(grep -c "Access denied to you: other.test" <<< "$output")" -eq 2 ]
	[[ "$output" == *"(453, b'4.3.0 You have no mail')"* ]]
	[[ "$output" == *"(501, b'5.5.4 Syntax: ATRN [domain[,domain]...]')"* ]]
	grep -q "ATRN refused for alice from \[127.0.0.1\] (other.test)" "$PH_LOG"
}

@test "ATRN: one session per domain at a time; the reversed session is plain SMTP in the tunnel" {
	ph_start
	send s@example.org bob@remote.test
	waiting 1
	run odmr_py '
r = c.docmd("ATRN remote.test")
print("first", r)
d = smtplib.SMTP("127.0.0.1", port, timeout=30)
d.ehlo("x"); d.starttls(context=ctx); d.ehlo("x"); d.login("alice", password)
print("second", d.docmd("ATRN remote.test"))
d.close()
# Now we are the server: greet, and take one message.
s = c.sock
f = s.makefile("rb")
def say(line):
    s.sendall(line.encode() + b"\r\n")
def hear():
    l = f.readline().decode().rstrip("\r\n"); print("heard", l); return l
say("220 customer.test ESMTP")
assert hear().startswith("EHLO ")
say("250-customer.test"); say("250 8BITMIME")
while True:
    l = hear()
    if l.startswith("MAIL") or l.startswith("RCPT"):
        say("250 ok")
    elif l == "DATA":
        say("354 go")
        body = []
        while True:
            x = f.readline()
            if x == b".\r\n": break
            body.append(x.decode())
        print("body", "".join(body).count("body line"))
        say("250 taken")
    elif l == "QUIT":
        say("221 bye"); break
    else:
        say("250 ok")
'
	echo "$output"
	[[ "$output" == *"first (250, b'2.0.0 OK now reversing the connection')"* ]]
	[[ "$output" == *"second (451, b'4.4.0 Mail for remote.test is being delivered over another ODMR connection, try again later')"* ]]
	[[ "$output" == *"heard RCPT TO:<bob@remote.test>"* ]]
	[[ "$output" == *"body 1"* ]]
	[[ "$output" == *"heard QUIT"* ]]
	wait_sent "bob@remote.test" 1
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "ATRN: a customer that vanishes mid-session loses nothing; the next ATRN delivers it once" {
	start_b
	ph_start
	send s@example.org bob@remote.test
	waiting 1
	run odmr_py '
print(c.docmd("ATRN remote.test"))
c.sock.sendall(b"220 customer.test ESMTP\r\n")
print(c.sock.recv(1000))
c.sock.close()'
	echo "$output"
	[[ "$output" == *"EHLO"* ]]
	wait_log "ODMR session alice.*ended: 0 recipients delivered"
	[ "$(ph_queue_files)" -eq 1 ]
	if grep -q "status=bounced" "$PH_LOG"; then false; fi
	run atrn remote.test
	echo "$output"
	[ "$status" -eq 0 ]
	b_wait_mail bob 1
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "posthorn-atrn: a wrong password or an unverifiable certificate is refused with its own exit code" {
	start_b
	ph_start
	echo wrong > "$PH_DIR/wrong"
	run "$PH_BUILD/bin/posthorn-atrn" -C "$PH_CONF/tls/cert.pem" -H localhost \
	    -u alice -p "$PH_DIR/wrong" -l "127.0.0.1:${bports[0]}" "127.0.0.1:$ODMR_PORT"
	echo "$output"
	[ "$status" -eq 77 ]
	[[ "$output" == *"AUTH: 535"* ]]
	# The system CAs do not know the test certificate.
	run "$PH_BUILD/bin/posthorn-atrn" -H localhost -u alice -p "$PH_CONF/demo-password" \
	    -l "127.0.0.1:${bports[0]}" "127.0.0.1:$ODMR_PORT"
	echo "$output"
	[ "$status" -eq 75 ]
	[[ "$output" == *"TLS handshake failed"* ]]
	run "$PH_BUILD/bin/posthorn-atrn" -u alice "127.0.0.1:$ODMR_PORT"
	[ "$status" -eq 64 ]
}

@test "mail for an ODMR domain is not retried while it waits: the next look is the delay notice or expiry" {
	ph_conf minimal_backoff_time 1s
	ph_conf maximal_backoff_time 2s
	ph_conf queue_run_delay 1s
	ph_start
	send s@example.org bob@remote.test
	waiting 1
	sleep 3
	[ "$(grep -c 'to=<bob@remote.test>.*status=deferred' "$PH_LOG")" -eq 1 ]
	f=$(find "$PH_DIR/queue/deferred" -type f ! -name .lock)
	# delay_warning_time (4h) is the next reason to look at it.
	[ $(( $(stat -c %Y "$f") - $(date +%s) )) -gt 14000 ]
	# A flush or ETRN does not send it anywhere; ATRN does (tests above).
	pq flush remote.test
	sleep 1
	[ "$(ph_queue_files)" -eq 1 ]
}
