#!/usr/bin/env bats
# The PROXY protocol (smtpd_upstream_proxy_protocol): a real HAProxy on
# loopback in front of the smtp service, with send-proxy (version 1)
# and send-proxy-v2; clients connect from 127.0.0.2, an address outside
# mynetworks, while HAProxy itself connects from 127.0.0.1.

load lib

setup() {
	ph_setup
	# Only 127.0.0.1 is trusted, so the real client (127.0.0.2) is not.
	ph_conf mynetworks 127.0.0.1/32
	sed -i "s|^\(smtp  .*smtpd .*\)$|\1 -o smtpd_upstream_proxy_protocol=haproxy -o smtpd_upstream_proxy_timeout=2s|" \
	    "$PH_CONF/master.conf"
	grep -q "^smtp .*smtpd_upstream_proxy_protocol=haproxy" "$PH_CONF/master.conf"
	HA_PID=
}

teardown() {
	[ -z "$HA_PID" ] || kill "$HA_PID" 2>/dev/null || true
	ph_teardown
}

# start_haproxy: frontends on HA_V1 (send-proxy) and HA_V2
# (send-proxy-v2), both to the smtp service.
start_haproxy() {
	local ports
	ports=($(ph_free_ports 2))
	HA_V1=${ports[0]} HA_V2=${ports[1]}
	cat > "$PH_DIR/haproxy.cfg" <<EOF
global
	maxconn 200
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
frontend v1
	bind 127.0.0.1:$HA_V1
	default_backend smtp_v1
frontend v2
	bind 127.0.0.1:$HA_V2
	default_backend smtp_v2
backend smtp_v1
	server posthorn 127.0.0.1:$PH_PORT send-proxy
backend smtp_v2
	server posthorn 127.0.0.1:$PH_PORT send-proxy-v2
EOF
	haproxy -db -f "$PH_DIR/haproxy.cfg" > "$PH_DIR/haproxy.log" 2>&1 &
	HA_PID=$!
	ph_wait_listen "$HA_V1" && ph_wait_listen "$HA_V2" ||
	    { cat "$PH_DIR/haproxy.log" >&2; return 1; }
}

# send_via PORT RCPT TEXT: SMTP from 127.0.0.2 through PORT; prints the
# reply to RCPT (and sends the message if it was accepted).
send_via() {
	python3 - "$1" "$2" "$3" <<'PY'
import smtplib, sys
port, rcpt, text = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=20,
                 source_address=("127.0.0.2", 0))
s.ehlo("client.example")
s.mail("someone@example.org")
code, msg = s.rcpt(rcpt)
print(code, msg.decode())
if code == 250:
    s.data(f"Subject: proxied\r\n\r\n{text}\r\n".encode())
s.quit()
PY
}

@test "PROXY v1 and v2 from HAProxy: the real client's address in the log, the Received header and the relay check" {
	ph_start
	start_haproxy
	for port in "$HA_V1" "$HA_V2"; do
		run send_via "$port" alice@localhost "through $port"
		[ "$status" -eq 0 ]
		[[ "$output" == "250 "* ]]
		# 127.0.0.2 is not in mynetworks: no relaying, though HAProxy
		# connects from 127.0.0.1, which is.
		run send_via "$port" someone@example.com "relay attempt"
		[ "$status" -eq 0 ]
		[[ "$output" == "554 5.7.1"*"Relay access denied"* ]]
	done
	ph_wait_mail alice 2
	[ "$(grep -c 'PROXY protocol: unknown\[127.0.0.2\] by way of \[127.0.0.1\]' "$PH_LOG")" -eq 4 ]
	[ "$(grep -c 'smtpd.*: connect from unknown\[127.0.0.2\]' "$PH_LOG")" -eq 4 ]
	for f in "$PH_MAIL"/alice/Maildir/new/*; do
		grep -q '^Received: from client.example (unknown \[127.0.0.2\])' "$f"
	done
	grep -q "through $HA_V1" "$PH_MAIL"/alice/Maildir/new/*
	grep -q "through $HA_V2" "$PH_MAIL"/alice/Maildir/new/*
}

@test "PROXY: headers by hand (TCP6, UNKNOWN, LOCAL, v2 with TLVs, in pieces), then SMTP on the same connection" {
	ph_start
	run python3 - "$PH_PORT" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
SIG = b"\r\n\r\n\x00\r\nQUIT\n"

def session(header, pieces=1):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    step = max(1, len(header) // pieces)
    for i in range(0, len(header), step):
        c.sendall(header[i:i + step])
        time.sleep(0.05)
    f = c.makefile("rb")
    greeting = f.readline()
    c.sendall(b"QUIT\r\n")
    f.readline()
    c.close()
    return greeting

v6 = socket.inet_pton(socket.AF_INET6, "2001:db8::7")
tlv = b"\x04\x00\x05hello"  # PP2_TYPE_NOOP
cases = [
    (b"PROXY TCP6 2001:db8::5 2001:db8::1 40000 25\r\n", 1),
    (b"PROXY UNKNOWN\r\n", 1),
    (SIG + b"\x20\x00\x00\x00", 1),  # LOCAL: a health check
    (SIG + b"\x21\x21" + struct.pack("!H", 36 + len(tlv)) + v6 + v6 +
     struct.pack("!HH", 40001, 25) + tlv, 7),
    (b"PROXY TCP4 192.0.2.9 192.0.2.1 40002 25\r\n", 9),
]
for header, pieces in cases:
    g = session(header, pieces)
    print(g.decode().strip())
    assert g.startswith(b"220 "), g
PY
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'PROXY protocol: unknown\[2001:db8::5\] by way of \[127.0.0.1\]' "$PH_LOG"
	grep -q 'PROXY protocol: unknown\[2001:db8::7\] by way of \[127.0.0.1\]' "$PH_LOG"
	grep -q 'PROXY protocol: unknown\[192.0.2.9\] by way of \[127.0.0.1\]' "$PH_LOG"
	# UNKNOWN and LOCAL keep the proxy's address.
	[ "$(grep -c 'smtpd.*connect from unknown\[127.0.0.1\]' "$PH_LOG")" -ge 2 ]
}

@test "PROXY: a missing, malformed or late header closes the connection without a greeting" {
	ph_start
	run python3 - "$PH_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
SIG = b"\r\n\r\n\x00\r\nQUIT\n"

def closed_silently(data, wait=0):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    if data:
        c.sendall(data)
    if wait:
        time.sleep(wait)
    got = b""
    while True:
        b = c.recv(4096)
        if not b:
            break
        got += b
    c.close()
    return got

for data in [
    b"EHLO client.example\r\n",                        # no header at all
    b"PROXY TCP4 999.0.0.1 192.0.2.1 1 25\r\n",         # bad address
    b"PROXY TCP4 192.0.2.1 192.0.2.2 65536 25\r\n",     # bad port
    b"PROXY TCP4 192.0.2.1 192.0.2.2 1 25 extra\r\n",   # a field too many
    b"PROXY TCP4 192.0.2.1  192.0.2.2 1 25\r\n",        # two spaces
    b"PROXY " + b"A" * 200 + b"\r\n",                   # over 107 bytes
    SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12,           # version 3
    SIG + b"\x21\x11\x00\x04" + b"\x00" * 4,            # too short for TCP4
    SIG + b"\x21\x11\xff\xff",                           # far too long
]:
    got = closed_silently(data)
    print(repr(data[:30]), repr(got))
    assert got == b"", got
# Half a header, then nothing: closed after smtpd_upstream_proxy_timeout.
t = time.time()
got = closed_silently(b"PROXY TCP4 192.0.2.1 ")
print("late", repr(got), round(time.time() - t, 1))
assert got == b"" and time.time() - t >= 1.5
PY
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'PROXY protocol from unknown\[127.0.0.1\]: no PROXY protocol header; connection closed' "$PH_LOG"
	grep -q 'PROXY protocol from unknown\[127.0.0.1\]: malformed PROXY v1 line; connection closed' "$PH_LOG"
	grep -q 'PROXY protocol from unknown\[127.0.0.1\]: PROXY v1 line longer than 107 bytes' "$PH_LOG"
	grep -q 'PROXY protocol from unknown\[127.0.0.1\]: PROXY v2 header of version 3' "$PH_LOG"
	grep -q 'PROXY protocol from unknown\[127.0.0.1\]: no header within 2s; connection closed' "$PH_LOG"
	# The services without the setting are untouched.
	run python3 - "$PH_SUBMISSION" <<'PY'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
print(c.makefile("rb").readline().decode().strip())
PY
	[[ "$output" == "220 "* ]]
}

@test "smtpd_upstream_proxy_protocol: a value other than haproxy is a configuration error" {
	ph_conf smtpd_upstream_proxy_protocol nginx
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"smtpd_upstream_proxy_protocol: expected haproxy or nothing"* ]]
}
