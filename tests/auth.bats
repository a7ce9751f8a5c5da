#!/usr/bin/env bats
# AUTH (RFC 4954) checked by the auth service, and submission (RFC 6409).

load lib

setup() {
	ph_setup
	ph_conf auth_failure_delay 0s
}

teardown() {
	ph_teardown
}

# b64 STRING: base64 of STRING.
b64() {
	printf '%s' "$1" | base64 -w0
}

# plain AUTHZID AUTHCID PASSWORD: a PLAIN response.
plain() {
	printf '%s\0%s\0%s' "$1" "$2" "$3" | base64 -w0
}

@test "AUTH is offered only over TLS; before it 538 5.7.11" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send AUTH PLAIN AGFsaWNlAHg=\r\n
expect 538 5.7.11
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	[[ "$output" != *"250-AUTH"* ]]
}

@test "smtplib: STARTTLS, login, relay; Received: names the user and ESMTPSA; no password in any log" {
	ph_conf mynetworks 192.0.2.0/24
	ph_start
	pw=$(ph_password)
	run python3 - "$PH_SUBMISSION" "$pw" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.starttls()
s.login("alice", sys.argv[2])
s.sendmail("alice@localhost", ["alice@localhost"],
           "Subject: authenticated\r\n\r\nhello\r\n")
# Authenticated: another domain is accepted for relaying.
s.mail("alice@localhost")
code, msg = s.rcpt("someone@example.com")
print("relay rcpt", code)
s.rset()
s.quit()
sys.exit(0 if code == 250 else 1)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	ph_wait_mail alice 1
	f=$(ph_mail_file alice)
	grep -q "(Authenticated sender: alice)" "$f"
	grep -q "with ESMTPSA id" "$f"
	grep -q "AUTH from unknown\[127.0.0.1\]: method=PLAIN, username=alice" "$PH_LOG"
	grep -q "client=unknown\[127.0.0.1\], sasl_username=alice" "$PH_LOG"
	if grep -qF "$pw" "$PH_LOG"; then false; fi
}

@test "relaying: refused on port 25 to a client outside mynetworks, allowed after AUTH" {
	ph_conf mynetworks 192.0.2.0/24
	ph_start
	pw=$(ph_password)
	run ph_smtp <<EOF2
expect 220
send EHLO x\\r\\n
expect 250
send MAIL FROM:<a@example.org>\\r\\n
expect 250
send RCPT TO:<victim@example.com>\\r\\n
expect 554 5.7.1
send RSET\\r\\n
expect 250
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
auth alice $pw
send MAIL FROM:<alice@localhost>\\r\\n
expect 250
send RCPT TO:<friend@example.com>\\r\\n
expect 250
send QUIT\\r\\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "submission: MAIL before AUTH is 530 5.7.0, even from mynetworks" {
	ph_start
	run ph_smtp "$PH_SUBMISSION" <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org>\r\n
expect 530 5.7.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	run swaks --server 127.0.0.1:$PH_SUBMISSION --tls --auth LOGIN \
	    --auth-user alice --auth-password "$(ph_password)" \
	    --from alice@localhost --to bob@localhost --body "submitted"
	[ "$status" -eq 0 ]
	ph_wait_mail bob 1
}

@test "PLAIN and LOGIN, with and without initial response; = and * handled" {
	ph_start
	pw=$(ph_password)
	plain=$(plain "" alice "$pw")
	authz=$(plain alice alice "$pw")
	user=$(b64 alice)
	pass=$(b64 "$pw")
	for dialog in "AUTH PLAIN $plain" "AUTH PLAIN|334 |$plain" \
	    "AUTH plain $authz" "AUTH LOGIN|334 VXNlcm5hbWU6|$user|334 UGFzc3dvcmQ6|$pass" \
	    "AUTH LOGIN $user|334 UGFzc3dvcmQ6|$pass"; do
		script="expect 220
send EHLO x\\r\\n
expect 250
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250"
		IFS='|' read -ra steps <<<"$dialog"
		for st in "${steps[@]}"; do
			case $st in
			"334 "*) script="$script
expect 334";;
			*) script="$script
send $st\\r\\n";;
			esac
		done
		script="$script
expect 235 2.7.0
send AUTH PLAIN $plain\\r\\n
expect 503 5.5.1
send QUIT\\r\\n
expect 221"
		run ph_smtp <<<"$script"
		echo "$dialog: $output"
		[ "$status" -eq 0 ]
	done
	# "=" is an empty initial response; "*" cancels.
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send STARTTLS\r\n
expect 220
starttls
send EHLO x\r\n
expect 250
send AUTH PLAIN =\r\n
expect 535 5.7.8
send AUTH LOGIN\r\n
expect 334
send *\r\n
expect 501 5.7.0
send AUTH PLAIN\r\n
expect 334
send *\r\n
expect 501 5.7.0
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "errors: 504 unknown mechanism, 501 bad base64, 535 wrong password, 503 inside a transaction" {
	ph_start
	bad=$(plain "" alice wrong)
	run ph_smtp <<EOF2
expect 220
send EHLO x\\r\\n
expect 250
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
send AUTH CRAM-MD5\\r\\n
expect 504 5.5.4
send AUTH PLAIN not*base64\\r\\n
expect 501 5.5.2
send AUTH LOGIN\\r\\n
expect 334
send %%%%\\r\\n
expect 501 5.5.2
send AUTH PLAIN $bad\\r\\n
expect 535 5.7.8
send AUTH PLAIN $(plain bob alice x)\\r\\n
expect 535 5.7.8
send AUTH PLAIN $(plain "" nobody x)\\r\\n
expect 535 5.7.8
send MAIL FROM:<a@example.org>\\r\\n
expect 250
send AUTH PLAIN $bad\\r\\n
expect 503 5.5.1
send QUIT\\r\\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
	# Every failure is logged by the auth service, without the password.
	[ "$(grep -c 'auth: failed: client=\[127.0.0.1\]' "$PH_LOG")" -eq 2 ]
	if grep -q "wrong" "$PH_LOG"; then false; fi
}

@test "failed attempts are delayed, then rate limited per client address (454 even for the right password)" {
	ph_conf auth_failure_delay 1s
	ph_conf auth_failure_limit 3
	ph_start
	pw=$(ph_password)
	run python3 - "$PH_PORT" "$pw" <<'PY'
import base64, smtplib, sys, time
def attempt(password):
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
    s.starttls()
    s.ehlo()
    t = time.monotonic()
    tok = base64.b64encode(b"\0alice\0" + password.encode()).decode()
    code, _ = s.docmd("AUTH", "PLAIN " + tok)
    took = time.monotonic() - t
    s.close()
    return code, took
codes = [attempt("wrong") for _ in range(3)]
print("wrong:", codes)
assert all(c == 535 for c, _ in codes)
# Each failure took at least the delay.
assert all(t >= 0.9 for _, t in codes)
code, _ = attempt(sys.argv[2])
print("right after limit:", code)
assert code == 454
PY
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "auth: refused: client=\[127.0.0.1\] .* 3 failures" "$PH_LOG"
}

@test "sender login map: a login may use only its own addresses; others may use none of them" {
	ph_conf mynetworks 192.0.2.0/24
	cat > "$PH_CONF/senders" <<'EOF2'
alice@localhost   alice
@shared.example   alice, bob
EOF2
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/senders"
	ph_conf smtpd_sender_login_map "hash:$PH_CONF/senders"
	ph_start
	pw=$(ph_password)
	run ph_smtp <<EOF2
expect 220
send EHLO x\\r\\n
expect 250
send MAIL FROM:<alice@localhost>\\r\\n
expect 553 5.7.1
send MAIL FROM:<stranger@example.org>\\r\\n
expect 250
send RSET\\r\\n
expect 250
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
auth alice $pw
send MAIL FROM:<bob@localhost>\\r\\n
expect 553 5.7.1
send MAIL FROM:<anyone@shared.example>\\r\\n
expect 250
send RSET\\r\\n
expect 250
send MAIL FROM:<alice@localhost>\\r\\n
expect 250
send RSET\\r\\n
expect 250
send MAIL FROM:<>\\r\\n
expect 250
send QUIT\\r\\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"not logged in"* ]]
	[[ "$output" == *"not owned by user alice"* ]]
}

@test "posthorn-map -p: sha512 and yescrypt hashes both work; the database keeps the source's permissions" {
	# erin's password makes an AUTH line far over smtpd_command_line_limit
	# (RFC 4954 allows 12288 octets).
	long=$(head -c 500 /dev/zero | tr '\0' e)
	printf 'carol %s\ndave %s\nerin %s\n' \
	    "$(echo carol-pw | "$PH_BUILD/bin/posthorn-map" -p -a sha512)" \
	    "$(echo dave-pw | "$PH_BUILD/bin/posthorn-map" -p)" \
	    "$(echo "$long" | "$PH_BUILD/bin/posthorn-map" -p)" \
	    > "$PH_CONF/users"
	chmod 0640 "$PH_CONF/users"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/users"
	[ "$(stat -c %a "$PH_CONF/users.db")" = 640 ]
	# crypt(3) takes at most 511 characters: said, not truncated.
	run "$PH_BUILD/bin/posthorn-map" -p <<<"$long$long"
	[ "$status" -eq 2 ]
	[[ "$output" == *"longer than 511"* ]]
	grep -q '^carol \$6\$' "$PH_CONF/users"
	grep -q '^dave \$y\$' "$PH_CONF/users"
	if [ "$(id -u)" -eq 0 ]; then
		chgrp posthorn-auth "$PH_CONF/users" "$PH_CONF/users.db"
	fi
	ph_conf auth_password_map "hash:$PH_CONF/users"
	ph_start
	for u in carol dave erin; do
		p=$u-pw
		[ $u = erin ] && p=$long
		run ph_smtp <<EOF2
expect 220
send EHLO x\\r\\n
expect 250
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
auth $u $p
send QUIT\\r\\n
expect 221
EOF2
		[ "$status" -eq 0 ]
	done
}

@test "the auth service is unreachable: 454 4.7.0, and the session goes on" {
	sed -i '/^auth /d' "$PH_CONF/master.conf"
	ph_start
	run ph_smtp <<EOF2
expect 220
send EHLO x\\r\\n
expect 250
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
send AUTH PLAIN $(plain "" alice x)\\r\\n
expect 454 4.7.0
send MAIL FROM:<a@example.org>\\r\\n
expect 250
send QUIT\\r\\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "system accounts: auth_system_accounts checks shadow passwords (root only)" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to make a system account"
	u=phtest$$
	useradd --no-create-home --shell /usr/sbin/nologin "$u"
	echo "$u:sys-secret" | chpasswd
	ph_conf auth_system_accounts yes
	ph_start
	run ph_smtp <<EOF2
expect 220
send EHLO x\\r\\n
expect 250
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
auth $u sys-secret
send QUIT\\r\\n
expect 221
EOF2
	st=$status
	out=$output
	run ph_smtp <<EOF2
expect 220
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
send AUTH PLAIN $(plain "" "$u" nope)\\r\\n
expect 535
send AUTH PLAIN $(plain "" root nope)\\r\\n
expect 535
send QUIT\\r\\n
expect 221
EOF2
	st2=$status
	userdel "$u"
	echo "$out"
	[ "$st" -eq 0 ] && [ "$st2" -eq 0 ]
	# The auth process kept only the shadow group besides its own.
	grep -q "username=$u" "$PH_LOG"
}

@test "MAIL AUTH= (RFC 4954 5) is accepted when AUTH is offered, checked as xtext" {
	ph_start
	run ph_smtp <<EOF2
expect 220
send EHLO x\\r\\n
expect 250
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
auth alice $(ph_password)
send MAIL FROM:<alice@localhost> AUTH=<>\\r\\n
expect 250
send RSET\\r\\n
expect 250
send MAIL FROM:<alice@localhost> AUTH=alice+40localhost\\r\\n
expect 250
send RSET\\r\\n
expect 250
send MAIL FROM:<alice@localhost> AUTH=bad=value\\r\\n
expect 501 5.5.4
send QUIT\\r\\n
expect 221
EOF2
	echo "$output"
	[ "$status" -eq 0 ]
	# Where AUTH is not offered (no TLS yet), the parameter is unknown.
	run ph_smtp <<'EOF2'
expect 220
send EHLO x\r\n
expect 250
send MAIL FROM:<a@example.org> AUTH=<>\r\n
expect 555 5.5.4
send QUIT\r\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "a rebuilt password map counts at once, without a reload" {
	ph_start
	run ph_smtp <<EOF2
expect 220
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
send AUTH PLAIN $(plain "" frank frank-pw)\\r\\n
expect 535
send QUIT\\r\\n
expect 221
EOF2
	[ "$status" -eq 0 ]
	echo "frank $(echo frank-pw | "$PH_BUILD/bin/posthorn-map" -p -a sha512)" \
	    >> "$PH_CONF/passwd"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/passwd"
	run ph_smtp <<EOF2
expect 220
send STARTTLS\\r\\n
expect 220
starttls
send EHLO x\\r\\n
expect 250
auth frank frank-pw
send QUIT\\r\\n
expect 221
EOF2
	[ "$status" -eq 0 ]
}

@test "auth_failure_delay over 20s is a configuration error (smtpd waits 30s)" {
	ph_conf auth_failure_delay 25s
	run "$PH_LIBEXEC/master" -t -c "$PH_CONF"
	[ "$status" -ne 0 ]
	[[ "$output" == *"auth_failure_delay may be at most 20s"* ]]
}
