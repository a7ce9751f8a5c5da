#!/usr/bin/env bats
# make run as an ordinary user: every process runs as that user, still as
# separate processes, and mail is delivered.  (Run as root, this test
# becomes user nobody for the instance; run as a user, it is that user.)

load lib

setup() {
	PH_DIR=$(mktemp -d /tmp/posthorn-test.XXXXXX)
	chmod 755 "$PH_DIR"
	RUNAS=()
	MKINSTANCE=$PH_SRC/master/mkinstance
	if [ "$(id -u)" -eq 0 ]; then
		command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
		chown nobody "$PH_DIR"
		RUNAS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
		# nobody must reach the programs, wherever the clone is.
		mkdir "$PH_DIR/libexec"
		cp "$PH_LIBEXEC"/master "$PH_LIBEXEC"/smtpd "$PH_LIBEXEC"/qmgr \
		    "$PH_LIBEXEC"/local "$PH_LIBEXEC"/keyd "$PH_LIBEXEC"/auth \
		    "$PH_LIBEXEC"/smtp "$PH_LIBEXEC"/pickup "$PH_LIBEXEC"/tlspol \
		    "$PH_DIR/libexec/"
		PH_LIBEXEC=$PH_DIR/libexec
		mkdir "$PH_DIR/bin"
		cp "$PH_BUILD/bin/posthorn-map" "$PH_DIR/bin/"
		mkdir -p "$PH_DIR/src/master"
		cp "$PH_SRC/master/mkinstance" "$PH_DIR/src/master/"
		cp -r "$PH_SRC/etc" "$PH_DIR/src/"
		MKINSTANCE=$PH_DIR/src/master/mkinstance
	fi
	ports=($(ph_free_ports 4))
	PH_PORT=${ports[0]}
	"${RUNAS[@]}" sh "$MKINSTANCE" "$PH_DIR/inst" "$PH_LIBEXEC" \
	    "${ports[@]}" >/dev/null
	PH_CONF=$PH_DIR/inst/etc
	PH_MAIL=$PH_DIR/inst/mail
	PH_LOG=$PH_DIR/master.log
	"${RUNAS[@]}" "$PH_LIBEXEC/master" -f -c "$PH_CONF" >"$PH_LOG" 2>&1 &
	PH_MASTER=$!
	ph_wait_listen "$PH_PORT"
	for i in $(seq 1 100); do
		grep -q "queue manager started" "$PH_LOG" && break
		sleep 0.05
	done
}

teardown() {
	ph_teardown
}

@test "as an ordinary user: separate processes, all as that user, mail delivered" {
	want=$(id -un)
	[ "$(id -u)" -eq 0 ] && want=nobody
	pids=$(ph_pids)
	[ "$(echo "$pids" | wc -l)" -ge 7 ]
	for p in $pids; do
		[ "$(ps -o user= -p "$p")" = "$want" ]
	done
	run swaks --server 127.0.0.1:$PH_PORT --from u@example.org \
	    --to bob@localhost --body "as an ordinary user"
	[ "$status" -eq 0 ]
	ph_wait_mail bob 1
	grep -q "as an ordinary user" "$(ph_mail_file bob)"
	[ "$(stat -c %U "$(ph_mail_file bob)")" = "$want" ]
}
