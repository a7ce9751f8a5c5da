#!/usr/bin/env bats
# Built-in DKIM signing (dkim_signing_keys): keyd signs, smtpd never holds
# a key.  The public keys are published by a dnsmasq on loopback, and
# Python's dkim (dkimpy) verifies the delivered mail against them.

load lib

setup() {
	ph_setup
	DNS_PID=
	D=$PH_DIR/dkim
	mkdir -p "$D"
	openssl genrsa -out "$D/rsa.pem" 2048 2>/dev/null
	openssl genpkey -algorithm ed25519 -out "$D/ed.pem" 2>/dev/null
	# One key inline, the other from a file of entries.
	printf '# DKIM keys\ned.example:ed1:%s/ed.pem   # Ed25519\n' "$D" > "$D/keys"
	ph_conf dkim_signing_keys "example.org:rsa1:$D/rsa.pem, $D/keys"
}

teardown() {
	[ -z "$DNS_PID" ] || kill "$DNS_PID" 2>/dev/null || true
	ph_teardown
}

# start_dns: the two public keys as TXT records, on DNS_PORT.
start_dns() {
	local rsa ed
	rsa=$(openssl pkey -in "$D/rsa.pem" -pubout -outform DER | base64 -w0)
	ed=$(openssl pkey -in "$D/ed.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
	DNS_PORT=$(ph_free_ports 1)
	# TXT strings are at most 255 bytes: the RSA key in pieces.
	dnsmasq -k --port="$DNS_PORT" --listen-address=127.0.0.1 \
	    --bind-interfaces --no-resolv --no-hosts \
	    --local=/example.org/ --local=/ed.example/ \
	    --user="$(id -un)" --pid-file= \
	    --txt-record="rsa1._domainkey.example.org,v=DKIM1; k=rsa; p=${rsa:0:200},${rsa:200}" \
	    --txt-record="ed1._domainkey.ed.example,v=DKIM1; k=ed25519; p=$ed" \
	    > "$PH_DIR/dns.log" 2>&1 &
	DNS_PID=$!
	sleep 0.3
}

# send_from FROM-HEADER-ADDRESS TEXT
send_from() {
	/usr/bin/python3 - "$PH_PORT" "$1" "$2" <<'PY'
import smtplib, sys
port, frm, text = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = ("From: Sender <%s>\r\nTo: alice@localhost\r\nSubject:   a  folded\r\n"
       "  subject line \r\nDate: Sun, 06 Dec 2026 12:00:00 +0000\r\n"
       "Message-ID: <%s@example>\r\n\r\n%s\r\n  spaced   out  \r\n"
       ".leading dot\r\n\r\n\r\n" % (frm, text.replace(" ", "."), text))
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.sendmail(frm, ["alice@localhost"], msg)
PY
}

# verify FILE: "pass" or "fail", through the DNS server; and a tampered copy.
verify() {
	/usr/bin/python3 - "$1" "$DNS_PORT" <<'PY'
import sys, dkim, dns.resolver
msg = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[2])
def txt(name, timeout=5):
    a = r.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    return b"".join(b"".join(rr.strings) for rr in a)
print("pass" if dkim.verify(msg, dnsfunc=txt) else "fail")
bad = msg.replace(b"spaced", b"spiced", 1)
print("tampered-pass" if dkim.verify(bad, dnsfunc=txt) else "tampered-fail")
PY
}

@test "DKIM: mail from a trusted client is signed with RSA or Ed25519 by its From domain's key, and verifies through DNS" {
	start_dns
	ph_start
	send_from me@example.org "rsa signed"
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	grep -q "^DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=rsa1; c=relaxed/relaxed; t=[0-9]*; h=from:subject:date:to:message-id; bh=" "$f"
	run verify "$f"
	echo "$output"
	[ "${lines[0]}" = pass ]
	[ "${lines[1]}" = tampered-fail ]
	send_from me@ed.example "ed25519 signed"
	ph_wait_mail alice 2
	f=$(ph_mail_file alice)
	grep -q "^DKIM-Signature: v=1; a=ed25519-sha256; d=ed.example; s=ed1; c=relaxed/relaxed;" "$f"
	run verify "$f"
	echo "$output"
	[ "${lines[0]}" = pass ]
	[ "${lines[1]}" = tampered-fail ]
	grep -q "DKIM-signed for example.org" "$PH_LOG"
	grep -q "DKIM-signed for ed.example" "$PH_LOG"
	grep -q "keyd: DKIM key for ed.example, selector ed1 (ed25519-sha256)" "$PH_LOG"
	# A domain without a key: not signed, and nothing to complain about.
	send_from me@other.example "not signed"
	ph_wait_mail alice 3
	if grep -q "^DKIM-Signature:" "$(ph_mail_file alice)"; then false; fi
	# smtpd never had the key: it cannot even open files.
	if grep -q "smtpd.*rsa.pem" "$PH_LOG"; then false; fi
}

@test "DKIM: mail from an untrusted, unauthenticated client is not signed" {
	ph_conf mynetworks 192.0.2.0/24
	ph_start
	send_from me@example.org "from outside"
	ph_wait_mail alice 1
	if grep -q "^DKIM-Signature:" "$(ph_mail_file alice)"; then false; fi
	if grep -q "DKIM-signed" "$PH_LOG"; then false; fi
}

@test "DKIM: simple and mixed canonicalisations verify too; malformed settings are configuration errors" {
	start_dns
	for c in simple/simple relaxed/simple simple/relaxed; do
		ph_stop
		ph_conf dkim_canonicalization "$c"
		ph_start
		n=$(( $(ph_count_mail alice) + 1 ))
		send_from me@example.org "canon $c"
		ph_wait_mail alice "$n"
		f=$(ph_mail_file alice)
		grep -q "^DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=rsa1; c=$c;" "$f"
		run verify "$f"
		echo "$c: $output"
		[ "${lines[0]}" = pass ]
		[ "${lines[1]}" = tampered-fail ]
	done
	ph_stop
	ph_conf dkim_canonicalization "loose/tight"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"dkim_canonicalization: expected relaxed/relaxed"* ]]
	ph_conf dkim_canonicalization relaxed/relaxed
	ph_conf dkim_signing_keys "example.org:rsa1"
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"dkim_signing_keys: \"example.org:rsa1\": expected domain:selector:/path/to/key.pem"* ]]
}
