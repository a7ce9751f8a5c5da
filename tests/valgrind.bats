#!/usr/bin/env bats
# valgrind memcheck over every daemon of an instance (#9), on demand:
#
#	make check-valgrind	(POSTHORN_VALGRIND=1 bats tests/valgrind.bats)
#
# The daemons run under daemon_wrapper = valgrind through a workload
# that reaches most of their code: mail in over SMTP, submission with
# STARTTLS and AUTH, local delivery, relay to another server, a bounce,
# sendmail and pickup, ETRN, VRFY, and the queue tool; then a graceful
# stop, at which each reports its leaks.  Any memcheck error, or any
# block definitely or indirectly lost, fails the test.

load lib

setup() {
	[ -n "${POSTHORN_VALGRIND:-}" ] ||
	    skip "on demand: make check-valgrind (POSTHORN_VALGRIND=1)"
	command -v valgrind >/dev/null || skip "valgrind missing"
	ph_setup
}

teardown() {
	ph_teardown
}

# workload N: mail of every kind, round N.
workload() {
	python3 - "$PH_PORT" "$PH_SUBMISSION" "$pw" "$1" <<'PY'
import smtplib, sys
port, sub, pw, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    for i in range(10):
        s.sendmail("a@example.org", ["alice@localhost", "bob@localhost"],
                   "Subject: local %s.%d\r\n\r\nhello\r\n" % (n, i))
    s.sendmail("alice@localhost", ["far@example.net"], "Subject: far\r\n\r\nrelayed\r\n")
    s.sendmail("alice@localhost", ["bounce@example.net"], "Subject: bounce\r\n\r\nx\r\n")
    s.verify("alice")
    s.docmd("ETRN", "example.net")
    s.docmd("BDAT", "0 LAST")
    s.docmd("XYZZY")
with smtplib.SMTP("127.0.0.1", sub, timeout=60) as s:
    s.starttls()
    s.login("alice", pw)
    s.sendmail("alice@localhost", ["bob@localhost"], "Subject: submitted\r\n\r\nhi\r\n")
PY
	printf 'Subject: via sendmail\n\nhi\n' | "$PH_BUILD/bin/sendmail" -C "$PH_CONF" bob
	ph_wait_mail alice $((11 * $1)) 60
	ph_wait_mail bob $((12 * $1)) 60
	for i in $(seq 1 300); do
		[ "$(grep -c "to=<far@example.net>.*status=sent" "$PH_LOG")" -ge "$1" ] &&
		    [ "$(ph_queue_files)" -eq 0 ] && break
		sleep 0.1
	done
	"$PH_BUILD/bin/posthorn-queue" -c "$PH_CONF" list >/dev/null
	sleep 1
}

@test "valgrind: no memcheck error and no lost block in any daemon after two rounds of mixed mail" {
	vg=$PH_DIR/valgrind
	mkdir -p "$vg"
	chmod 777 "$vg"
	ph_conf daemon_wrapper "$(command -v valgrind) --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --num-callers=30 --suppressions=$PH_SRC/tests/valgrind.supp --log-file=$vg/vg.%p"
	# The filter would refuse valgrind what it needs after start.
	ph_conf seccomp_filter no
	ph_conf smtpd_etrn_clients mynetworks
	port=$(ph_free_ports 1)
	ph_sink "$PH_DIR/sink.log" --port "$port" \
	    --rcpt "bounce@example.net=550 5.1.1 no such user"
	ph_conf relayhost "[127.0.0.1]:$port"
	ph_conf mynetworks 127.0.0.0/8
	ph_start
	# Daemons under valgrind start slowly: give them time.
	for i in $(seq 1 200); do
		[ -S "$PH_DIR/queue/private/auth" ] && break
		sleep 0.1
	done
	pw=$(ph_password)
	workload 1
	workload 2
	ph_stop
	# Each daemon reports at its exit; its state is static, so what is
	# lost is lost.  Forked delivery children report too.
	local f prog bad=0 n=0
	for f in "$vg"/vg.[0-9]*; do
		prog=$(sed -n 's/^==[0-9]*== Command: [^ ]*\/\([^ /]*\) .*/\1/p' "$f" | head -n 1)
		n=$((n + 1))
		if ! grep -q "ERROR SUMMARY" "$f"; then
			echo "# valgrind: no report from $prog ($f): killed?" >&3
			bad=1
		elif ! grep -q "ERROR SUMMARY: 0 errors" "$f"; then
			echo "# valgrind: $prog ($f):" >&3
			grep -v "^==[0-9]*== *$" "$f" | sed 's/^/#   /' | head -n 60 >&3
			bad=1
		fi
	done
	echo "# valgrind: $n process reports" >&3
	[ "$n" -ge 8 ]
	[ "$bad" -eq 0 ]
}
