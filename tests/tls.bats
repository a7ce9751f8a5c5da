#!/usr/bin/env bats
# TLS: STARTTLS (RFC 3207) and implicit TLS (RFC 8314) in smtpd, with the
# private keys held by keyd alone.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

# s_client ARGS...: a STARTTLS handshake on port 25; prints what it saw.
s_client() {
	echo QUIT | timeout 10 openssl s_client -connect "127.0.0.1:$PH_PORT" \
	    -starttls smtp -ign_eof "$@" 2>&1
}

# ph_cert NAME KEYTYPE: a self-signed certificate for NAME in $PH_CONF/tls.
ph_cert() {
	local alg=(-newkey rsa:2048)
	[ "$2" = ec ] && alg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	openssl req -x509 "${alg[@]}" -nodes -days 30 -subj "/CN=$1" \
	    -addext "subjectAltName=DNS:$1" -keyout "$PH_CONF/tls/$1.key" \
	    -out "$PH_CONF/tls/$1.crt" 2>/dev/null
	chmod 600 "$PH_CONF/tls/$1.key"
}

@test "STARTTLS: openssl s_client gets TLS 1.3 with the instance certificate; after TLS, AUTH instead of STARTTLS" {
	ph_start
	run s_client -brief
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
	[[ "$output" == *"CN = localhost"* || "$output" == *"CN=localhost"* ]]
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send STARTTLS\r\n
expect 220 2.0.0
starttls
send EHLO x\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" == *"(tls TLSv1.3 CN=localhost)"* ]]
	# Before TLS: STARTTLS and no AUTH; after: AUTH and no STARTTLS.
	before=$(echo "$output" | sed -n '/^250-x\|^250-/p' | head -20)
	[ "$(echo "$output" | grep -c '^250-STARTTLS')" -eq 1 ]
	[ "$(echo "$output" | grep -c '^250-AUTH PLAIN LOGIN')" -eq 1 ]
	echo "$output" | awk '/^\(tls/{t=1} /STARTTLS/&&t{exit 1} /AUTH/&&!t{exit 1}'
	grep -q "STARTTLS from unknown\[127.0.0.1\]: TLSv1.3 with cipher" "$PH_LOG"
}

@test "mail over STARTTLS: delivered, Received: says which TLS and ESMTPS" {
	ph_start
	run swaks --server 127.0.0.1:$PH_PORT --tls --from a@example.org \
	    --to alice@localhost --body "secret body"
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	grep -q "^	(using TLSv1.3 with cipher TLS_[A-Z0-9_]* ([0-9]*/[0-9]* bits))" "$f"
	grep -q "with ESMTPS id" "$f"
	grep -q "^secret body" "$f"
}

@test "implicit TLS on the SMTPS port: greeting only after the handshake" {
	ph_start
	ph_wait_listen "$PH_SMTPS"
	run ph_smtps "$PH_SMTPS" <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "(tls TLSv1.3 CN=localhost)" ]]
	[[ "$output" == *"250-AUTH PLAIN LOGIN"* && "$output" != *STARTTLS* ]]
	# A plaintext client gets no SMTP greeting from it.
	run python3 - "$PH_SMTPS" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(b"EHLO x\r\n")
try:
    data = s.recv(100)
except OSError:
    data = b""
print(repr(data))
sys.exit(1 if data.startswith(b"220") or data.startswith(b"250") else 0)
PY
	[ "$status" -eq 0 ]
	grep -q "TLS connection from unknown\[127.0.0.1\]: TLSv1.3" "$PH_LOG"
	# smtplib.SMTP_SSL: log in and submit over implicit TLS.
	run python3 - "$PH_SMTPS" "$(ph_password)" <<'PY'
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx,
                      timeout=30) as s:
    s.login("alice", sys.argv[2])
    s.sendmail("alice@localhost", ["bob@localhost"],
               "Subject: over smtps\r\n\r\nimplicit\r\n")
PY
	[ "$status" -eq 0 ]
	ph_wait_mail bob 1
	grep -q "with ESMTPSA id" "$(ph_mail_file bob)"
}

@test "STARTTLS injection: commands pipelined after STARTTLS in the clear are discarded, state is reset" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@localhost>\r\n
expect 220 2.0.0
starttls
send NOOP\r\n
expect 250 2.0.0
send MAIL FROM:<a@example.org>\r\n
expect 503 5.5.1
send EHLO x\r\n
expect 250
send RCPT TO:<alice@localhost>\r\n
expect 503 5.5.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	# Exactly one reply to NOOP: nothing injected was answered.
	[ "$(echo "$output" | grep -c '^250 2.1.0')" -eq 0 ]
	[ "$(echo "$output" | grep -c '^250 2.1.5')" -eq 0 ]
	grep -q "discarded [0-9]* bytes sent after STARTTLS" "$PH_LOG"
	[ "$(ph_queue_files)" -eq 0 ]
}

@test "STARTTLS twice, inside a transaction or with an argument is refused" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send STARTTLS now\r\n
expect 501 5.5.4
send MAIL FROM:<a@example.org>\r\n
expect 250
send STARTTLS\r\n
expect 503 5.5.1
send RSET\r\n
expect 250
send STARTTLS\r\n
expect 220
starttls
send EHLO x\r\n
expect 250
send STARTTLS\r\n
expect 503 5.5.1
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "smtpd_tls_security_level = encrypt: 530 before STARTTLS, mail after" {
	ph_conf smtpd_tls_security_level encrypt
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 530 5.7.0
send NOOP\r\n
expect 250
send STARTTLS\r\n
expect 220
starttls
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "protocols: TLS 1.2 and 1.3 by default, older refused; smtpd_tls_protocols narrows it" {
	ph_start
	run s_client -brief -tls1_2
	[[ "$output" == *"Protocol version: TLSv1.2"* ]]
	run python3 - "$PH_PORT" <<'PY'
import smtplib, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_ciphers("ALL:@SECLEVEL=0")
ctx.minimum_version = ssl.TLSVersion.TLSv1
ctx.maximum_version = ssl.TLSVersion.TLSv1_1
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
try:
    s.starttls(context=ctx)
except (ssl.SSLError, OSError) as e:
    print("refused:", e)
    sys.exit(0)
print("TLS 1.1 was accepted")
sys.exit(1)
PY
	[ "$status" -eq 0 ]
	ph_stop
	ph_conf smtpd_tls_protocols TLSv1.3
	ph_start
	run s_client -brief -tls1_2
	[[ "$output" != *"Protocol version: TLSv1.2"* ]]
	run s_client -brief -tls1_3
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
}

@test "keyd signs for every handshake kind: RSA-PSS (1.3), RSA PKCS#1 (1.2), ECDSA; no RSA key exchange" {
	ph_cert ecdsa.example ec
	ph_conf smtpd_tls_sni_certs "$PH_CONF/tls/ecdsa.example.crt $PH_CONF/tls/ecdsa.example.key"
	ph_start
	run s_client -brief -tls1_3
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
	[[ "$output" == *"Signature type: RSA-PSS"* ]]
	run s_client -brief -tls1_2 -sigalgs RSA+SHA256
	[[ "$output" == *"Protocol version: TLSv1.2"* ]]
	[[ "$output" == *"Signature type: RSA"* && "$output" != *RSA-PSS* ]]
	# Plain RSA key exchange (no forward secrecy) is never offered, even
	# when smtpd_tls_ciphers would allow it: keyd decrypts nothing.
	ph_stop
	ph_conf smtpd_tls_ciphers "ALL"
	ph_start
	run s_client -brief -tls1_2 -cipher AES128-GCM-SHA256
	[[ "$output" != *"Ciphersuite: AES128-GCM-SHA256"* ]]
	[[ "$output" != *"CONNECTION ESTABLISHED"* ]]
	run s_client -brief -servername ecdsa.example
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
	[[ "$output" == *"Signature type: ECDSA"* ]]
	run s_client -brief -tls1_2 -servername ecdsa.example
	[[ "$output" == *"Signature type: ECDSA"* ]]
	grep -q "key server started with 2 keys" "$PH_LOG"
}

@test "SNI: the certificate whose names match, else the default" {
	ph_cert mail.example.net rsa
	ph_cert '*.example.org' ec
	ph_conf smtpd_tls_sni_certs "$PH_CONF/tls/mail.example.net.crt $PH_CONF/tls/mail.example.net.key, $PH_CONF/tls/*.example.org.crt $PH_CONF/tls/*.example.org.key"
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send STARTTLS\r\n
expect 220
starttls mail.example.net
send QUIT\r\n
expect 221
EOF2
	[[ "$output" == *"CN=mail.example.net)"* ]]
	run ph_smtp <<'EOF2'
expect 220
send STARTTLS\r\n
expect 220
starttls mx2.example.org
send QUIT\r\n
expect 221
EOF2
	[[ "$output" == *"CN=\\*.example.org)"* || "$output" == *"CN=*.example.org)"* ]]
	run ph_smtp <<'EOF2'
expect 220
send STARTTLS\r\n
expect 220
starttls unknown.example.com
send QUIT\r\n
expect 221
EOF2
	[[ "$output" == *"CN=localhost)"* ]]
}

@test "a certificate that cannot be loaded: 454 to STARTTLS, plain mail still flows" {
	ph_conf smtpd_tls_cert_file "$PH_CONF/tls/missing.pem"
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send STARTTLS\r\n
expect 454 4.7.0
send MAIL FROM:<a@example.org>\r\n
expect 250
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	grep -q "TLS: .*missing.pem" "$PH_LOG"
}

@test "a restarted keyd: the next handshake reconnects and works" {
	ph_start
	run s_client -brief
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
	old=$(ph_pid_of keyd)
	kill -KILL "$old"
	for i in $(seq 1 100); do
		new=$(ph_pid_of keyd)
		[ -n "$new" ] && [ "$new" != "$old" ] &&
		    grep -c "key server started" "$PH_LOG" | grep -q 2 && break
		sleep 0.05
	done
	run s_client -brief
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
	sed -i '/killed by signal 9/d' "$PH_LOG"
}

@test "smtpd cannot read the private key, and holds none of it in memory; keyd does" {
	[ "$(id -u)" -eq 0 ] || skip "needs root: the daemons must run as their own users"
	command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
	ph_start
	run s_client -brief
	[[ "$output" == *"Protocol version: TLSv1.3"* ]]
	smtpd=$(ph_pid_of smtp)
	keyd=$(ph_pid_of keyd)
	key=$PH_CONF/tls/key.pem
	# smtpd's user and groups cannot open the key file...
	uid=$(awk '/^Uid:/{print $2}' /proc/$smtpd/status)
	gid=$(awk '/^Gid:/{print $2}' /proc/$smtpd/status)
	[ "$uid" -ne 0 ]
	run setpriv --reuid="$uid" --regid="$gid" --clear-groups cat "$key"
	[ "$status" -ne 0 ]
	# ...and in its chroot the file does not even exist.
	[ "$(readlink /proc/$smtpd/root)" = "$PH_DIR/queue" ]
	[ ! -e "/proc/$smtpd/root$key" ]
	# The RSA prime p: absent from smtpd's memory, present in keyd's.
	run python3 - "$key" "$smtpd" "$keyd" <<'PY'
import re, subprocess, sys
text = subprocess.run(["openssl", "pkey", "-in", sys.argv[1], "-noout",
                       "-text"], capture_output=True, text=True).stdout
m = re.search(r"prime1:\s*([0-9a-f:\s]+?)\s*prime2:", text)
p = bytes.fromhex(re.sub(r"[:\s]", "", m.group(1))).lstrip(b"\0")
def holds(pid):
    found = False
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if "r" not in perms or "[vvar]" in line or "[vsyscall]" in line:
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            # Sanitizer shadow maps are huge and mostly unbacked: skip.
            if hi - lo > 1 << 30:
                continue
            step = 16 << 20
            for at in range(lo, hi, step):
                try:
                    mem.seek(at)
                    chunk = mem.read(min(step + len(p), hi - at))
                except OSError:
                    break
                # OpenSSL keeps bignums as little-endian words: both ways.
                if p in chunk or p[::-1] in chunk:
                    found = True
    return found
print("smtpd", holds(sys.argv[2]), "keyd", holds(sys.argv[3]))
sys.exit(0 if not holds(sys.argv[2]) and holds(sys.argv[3]) else 1)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	# keyd itself runs as its own user, not root and not smtpd's.
	kuid=$(awk '/^Uid:/{print $2}' /proc/$keyd/status)
	[ "$kuid" -ne 0 ] && [ "$kuid" -ne "$uid" ]
}

@test "keyd is no decryption oracle: raw RSA on arbitrary input is refused" {
	ph_start
	key=$PH_CONF/tls/key.pem
	id=$(openssl pkey -in "$key" -pubout -outform DER | sha256sum | cut -c1-64)
	run python3 - "$PH_DIR/queue/private/keyd" "$id" <<'PY'
import os, socket, struct, sys
def ask(op, padding, data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    payload = sys.argv[2].encode() + b"\0" + op + b"\0" + str(padding).encode() + b"\0" + data
    s.sendall(b"O" + struct.pack(">I", len(payload)) + payload)
    hdr = s.recv(5)
    n = struct.unpack(">I", hdr[1:])[0]
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    s.close()
    return chr(hdr[0]), body
# RSA_NO_PADDING (3) on a random block below the modulus: what a
# compromised smtpd would send to decrypt something.
t, body = ask(b"e", 3, b"\0" + os.urandom(255))
print("raw:", t, body[:40])
assert t == "F" and b"not a signature" in body
# OAEP (4) or any other padding: refused as well.
t, body = ask(b"e", 4, os.urandom(20))
assert t == "F"
# PKCS#1 v1.5 (1): a signature, which is what keyd is for.
t, body = ask(b"e", 1, os.urandom(51))
print("pkcs1:", t, len(body))
assert t == "K" and len(body) == 256
PY
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "keyd: refused: not a signature" "$PH_LOG"
	# And TLS 1.3 (RSA-PSS through the same raw path) still works.
	run s_client -brief -tls1_3
	[[ "$output" == *"Signature type: RSA-PSS"* ]]
}

@test "TLS 1.3 resumption: a ticket from one session resumes the next" {
	ph_start
	run python3 - "$PH_PORT" <<'PY'
import smtplib, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
session = None
for i in range(2):
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
    s.ehlo()
    s.docmd("STARTTLS")
    s.sock = ctx.wrap_socket(s.sock, session=session)
    s.file = None
    s.ehlo()		# the ticket arrives with the first reply
    print(i, s.sock.version(), "reused" if s.sock.session_reused else "full")
    session = s.sock.session
    s.quit()
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "0 TLSv1.3 full" ]]
	[[ "${lines[1]}" == "1 TLSv1.3 reused" ]]
}
