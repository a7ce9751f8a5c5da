#!/usr/bin/env bats
# Integer and length corner cases, the class of Exim's "21Nails"
# (CVE-2020-28017 and its siblings): counts and sizes that overflow,
# lines and headers longer than any buffer, decoded parameters that
# would smuggle header lines.  Each must get a clear answer and lose
# nothing; none may crash a process.

load lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

# session PYTHON: run PYTHON with s (socket), f (its reader) and
# cmd(line) -> reply line, after the greeting and EHLO.
session() {
	python3 - "$PH_PORT" "$@" <<PY
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rb")
def reply():
    while True:
        l = f.readline()
        if l[3:4] != b"-":
            return l
def cmd(c):
    s.sendall(c + b"\r\n")
    return reply()
assert reply().startswith(b"220")
assert cmd(b"EHLO client.example").startswith(b"250")
$(cat)
PY
}

@test "SIZE and BDAT counts past 2^63 and 2^64, negative, signed, hex or exponent: refused, never wrapped" {
	ph_start
	session <<'PY'
for v in (b"18446744073709551615", b"18446744073709551616", b"9223372036854775808",
          b"99999999999999999999999999999999"):
    r = cmd(b"MAIL FROM:<a@example.org> SIZE=" + v)
    assert r.startswith(b"552 5.3.4"), (v, r)
for v in (b"-1", b"+5", b"0x10", b"1e3", b"", b"\xff"):
    r = cmd(b"MAIL FROM:<a@example.org> SIZE=" + v)
    assert r.startswith(b"501 5.5.4"), (v, r)
assert cmd(b"MAIL FROM:<a@example.org> SIZE=100").startswith(b"250")
assert cmd(b"RCPT TO:<alice@localhost>").startswith(b"250")
for v in (b"18446744073709551615", b"18446744073709551616", b"9223372036854775807",
          b"-1", b"0x10", b"1e3", b"+5"):
    r = cmd(b"BDAT " + v + b" LAST")
    assert r.startswith(b"501 5.5.4") or r.startswith(b"552 5.3.4"), (v, r)
# Still in the transaction, and the message goes through.
s.sendall(b"BDAT 21 LAST\r\nSubject: n\r\n\r\nnails\r\n")
r = reply()
assert r.startswith(b"250 2.0.0"), r
PY
	ph_wait_mail alice 1
	grep -q "^nails" "$(ph_mail_file alice)"
}

@test "BDAT chunks that add up past message_size_limit: 552 at LAST, nothing queued, each chunk small" {
	ph_conf message_size_limit 4096
	ph_start
	session <<'PY'
assert cmd(b"MAIL FROM:<a@example.org>").startswith(b"250")
assert cmd(b"RCPT TO:<alice@localhost>").startswith(b"250")
for i in range(5):
    s.sendall(b"BDAT 1500\r\n" + b"x" * 1498 + b"\r\n")
    r = reply()
    assert r.startswith(b"250") or r.startswith(b"552"), r
s.sendall(b"BDAT 0 LAST\r\n")
r = reply()
assert r.startswith(b"552 5.3.4"), r
assert cmd(b"NOOP").startswith(b"250")
PY
	sleep 0.3
	[ "$(ph_queue_files)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 0 ]
}

@test "a header folded 50000 times (1.2 MB) is stored and delivered whole, in bounded memory" {
	ph_start
	session <<'PY'
assert cmd(b"MAIL FROM:<a@example.org>").startswith(b"250")
assert cmd(b"RCPT TO:<alice@localhost>").startswith(b"250")
assert cmd(b"DATA").startswith(b"354")
s.sendall(b"X-Long: start\r\n" + b"".join(b"\tfold %06d xxxxxxxxxx\r\n" % i for i in range(50000)) +
          b"Subject: folded\r\n\r\nbody\r\n.\r\n")
r = reply()
assert r.startswith(b"250 2.0.0"), r
PY
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	[ "$(grep -c '^	fold ' "$f")" -eq 50000 ]
	grep -q "^	fold 049999 x" "$f"
	grep -q "^Subject: folded" "$f"
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$(ph_pid_of smtp)/status")
	[ "$rss" -lt 20000 ]
}

@test "the recipient count: smtpd_recipient_limit recipients are all queued and delivered, one more gets 452" {
	ph_conf smtpd_recipient_limit 100
	ph_start
	session <<'PY'
assert cmd(b"MAIL FROM:<a@example.org>").startswith(b"250")
# Pipelined, as a bulk sender would.
s.sendall(b"".join(b"RCPT TO:<alice+%d@localhost>\r\n" % i for i in range(101)))
for i in range(100):
    r = reply()
    assert r.startswith(b"250"), (i, r)
r = reply()
assert r.startswith(b"452 4.5.3"), r
assert cmd(b"DATA").startswith(b"354")
s.sendall(b"Subject: many\r\n\r\nmany\r\n.\r\n")
r = reply()
assert r.startswith(b"250 2.0.0"), r
PY
	ph_wait_mail alice 100 60
	grep -q "nrcpt=100 " "$PH_LOG"
	for i in $(seq 1 100); do [ "$(ph_queue_files)" -eq 0 ] && break; sleep 0.1; done
	[ "$(ph_queue_files)" -eq 0 ]
	[ "$(ph_count_mail alice)" -eq 100 ]
}

@test "xtext in ENVID and ORCPT cannot put header lines into a delivery report" {
	ph_start
	session <<'PY'
assert cmd(b"MAIL FROM:<bob@localhost> RET=HDRS ENVID=x+0D+0ABcc:+20evil@example.org+00z").startswith(b"250")
r = cmd(b"RCPT TO:<alice@localhost> NOTIFY=SUCCESS ORCPT=rfc822;a+0D+0ABcc:evil@example.org+00z")
assert r.startswith(b"250"), r
assert cmd(b"DATA").startswith(b"354")
s.sendall(b"Subject: t\r\n\r\nhi\r\n.\r\n")
r = reply()
assert r.startswith(b"250 2.0.0"), r
PY
	ph_wait_mail bob 1
	f=$(ph_mail_file bob)
	grep -q "^Original-Envelope-Id: x" "$f"
	grep -q "^Original-Recipient: rfc822; a" "$f"
	if grep -qi "^Bcc:" "$f"; then false; fi
	# No control character but the line ends.
	if tr -d '\r\n\t' < "$f" | grep -q '[[:cntrl:]]'; then false; fi
}
