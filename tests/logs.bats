#!/usr/bin/env bats
# Logs: one line per event in Postfix's layout, so that pflogsumm (the
# Debian package) summarises a posthorn log with the right counts.

load lib
load relay_lib

setup() {
	ph_setup
}

teardown() {
	ph_teardown
}

@test "log lines have the syslog layout: date, host, posthorn/PROGRAM[pid]" {
	ph_start
	send alice@localhost alice@localhost
	ph_wait_mail alice 1
	host=$(hostname | cut -d. -f1)
	grep -E "^[A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} $host posthorn/smtpd\[[0-9]+\]: [0-9A-F]+: client=unknown\[127.0.0.1\]$" "$PH_LOG"
	grep -E " posthorn/qmgr\[[0-9]+\]: [0-9A-F]+: from=<alice@localhost>, size=[0-9]+, nrcpt=1 \(queue active\)$" "$PH_LOG"
	grep -E " posthorn/qmgr\[[0-9]+\]: [0-9A-F]+: to=<alice@localhost>, relay=local, delay=[0-9.]+, dsn=2.0.0, status=sent \(" "$PH_LOG"
}

@test "a refused RCPT is logged as Postfix's smtpd logs it" {
	ph_start
	run ph_smtp <<'EOF2'
expect 220
send EHLO client.example\r\n
expect 250 ENHANCEDSTATUSCODES
send MAIL FROM:<s@example.org>\r\n
expect 250
send RCPT TO:<nobody@localhost>\r\n
expect 550 5.1.1
send QUIT\r\n
expect 221
EOF2
	[[ "$output" == *"550 5.1.1"* ]]
	grep -E "posthorn/smtpd\[[0-9]+\]: [0-9A-F]+: reject: RCPT from unknown\[127.0.0.1\]: 550 5.1.1 <nobody@localhost>: Recipient address rejected: [^;]*; from=<s@example.org> to=<nobody@localhost> proto=ESMTP helo=<client.example>$" "$PH_LOG"
	# No message was made, so no client= line (pflogsumm counts those).
	if grep -q "client=unknown" "$PH_LOG"; then false; fi
}

@test "pflogsumm counts received, delivered, deferred, bounced and rejected mail" {
	command -v pflogsumm >/dev/null || skip "pflogsumm missing"
	transport "moved.test error:5.1.6 moved away" \
	    "later.test retry:4.2.1 try again later"
	ph_start
	send s@example.org alice@localhost bob@localhost
	python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    refused = {}
    try:
        refused = s.sendmail("s@example.org", ["alice@localhost",
                             "nobody@localhost"], "Subject: two\r\n\r\nx\r\n")
    except smtplib.SMTPRecipientsRefused as e:
        sys.exit("all refused: %r" % e)
    assert list(refused) == ["nobody@localhost"], refused
    s.mail("s@example.org")
    assert s.rcpt("nobody2@localhost")[0] == 550
    s.rset()
PY
	send alice@localhost x@moved.test
	send alice@localhost y@later.test
	printf 'Subject: local\n\nfrom cron\n' |
	    "$PH_BUILD/bin/sendmail" -C "$PH_CONF" bob
	# alice: first, second, the bounce for x@moved.test; bob: two.
	ph_wait_mail alice 3
	ph_wait_mail bob 2
	wait_log "to=<y@later.test>, .*status=deferred"
	ph_stop
	run pflogsumm --syslog-name=posthorn "$PH_LOG"
	echo "$output"
	[[ "$output" =~ [[:space:]]5[[:space:]]+received ]]
	[[ "$output" =~ [[:space:]]5[[:space:]]+delivered ]]
	[[ "$output" =~ [[:space:]]1[[:space:]]+deferred ]]
	[[ "$output" =~ [[:space:]]1[[:space:]]+bounced ]]
	[[ "$output" =~ [[:space:]]2[[:space:]]+rejected ]]
	[[ "$output" == *"Recipient address rejected"* ]]
	[[ "$output" == *"try again later"* ]]
	[[ "$output" == *"moved away"* ]]
	[[ "$output" == *"s@example.org"* ]]
}
