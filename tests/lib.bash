# Shared helpers for the bats suite: each test file starts its own posthorn
# instance in a temp dir on free loopback ports, and always stops it.

PH_SRC=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
PH_BUILD=${POSTHORN_BUILD:-$PH_SRC/build}
PH_LIBEXEC=$PH_BUILD/libexec

# Debian's python3 (a test dependency) when there is one: a pyenv shim
# first in PATH costs half a second a call, and tests make hundreds.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	PH_PYBIN=${BATS_RUN_TMPDIR:-/tmp}/posthorn-python
	mkdir -p "$PH_PYBIN"
	ln -sf /usr/bin/python3 "$PH_PYBIN/python3"
	PATH=$PH_PYBIN:$PATH
fi

# Free TCP ports on 127.0.0.1 (the kernel picks them).
ph_free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# ph_setup [RUNAS]: lay out an instance (not started).  Sets PH_DIR,
# PH_PORT, PH_SUBMISSION, PH_CONF, PH_MAIL, PH_LOG.
ph_setup() {
	PH_DIR=$(mktemp -d /tmp/posthorn-test.XXXXXX)
	chmod 755 "$PH_DIR"
	local ports
	ports=($(ph_free_ports 4))
	PH_PORT=${ports[0]} PH_SUBMISSION=${ports[1]} PH_SMTPS=${ports[2]}
	# A certificate and a password hash cost time: make them once a run.
	local cache=${BATS_RUN_TMPDIR:-/tmp}/posthorn-instance-cache
	if [ -d "$cache" ]; then
		mkdir -p "$PH_DIR/etc"
		cp -a "$cache/." "$PH_DIR/etc/"
	fi
	QUEUE_RUN_DELAY=1s MINIMAL_BACKOFF=1s \
	    sh "$PH_SRC/master/mkinstance" "$PH_DIR" "$PH_LIBEXEC" \
	    "${ports[0]}" "${ports[1]}" "${ports[2]}" "${ports[3]}" >/dev/null
	if [ ! -d "$cache" ]; then
		mkdir -p "$cache.$$"
		cp -a "$PH_DIR/etc/tls" "$PH_DIR/etc/demo-password" \
		    "$PH_DIR/etc/passwd" "$cache.$$/"
		mv "$cache.$$" "$cache" 2>/dev/null || rm -rf "$cache.$$"
	fi
	PH_CONF=$PH_DIR/etc
	PH_MAIL=$PH_DIR/mail
	PH_LOG=$PH_DIR/master.log
	ph_conf drain_timeout 10s
	# Never the Internet: MX lookups go to a port where nothing answers
	# (refused at once), so mail for other domains is deferred, unless a
	# test sets up its own DNS server or transport.
	ph_conf dns_resolver "127.0.0.1:${ports[3]}"
	PH_SINKS=()
}

# ph_sink LOG [smtpsink.py options]: start a scripted SMTP/LMTP server
# (tests/smtpsink.py); stopped by ph_teardown.
ph_sink() {
	local log=$1
	shift
	python3 "$PH_SRC/tests/smtpsink.py" "$@" "$log" > "$log.out" 2>&1 &
	PH_SINKS+=($!)
	local i
	for i in $(seq 1 100); do
		grep -q ready "$log.out" 2>/dev/null && return 0
		sleep 0.05
	done
	cat "$log.out" >&2
	return 1
}

# ph_maps: rebuild the instance's maps after a test edited their sources.
ph_maps() {
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/aliases" "hash:$PH_CONF/mailboxes"
}

# ph_conf KEY VALUE: set a parameter in the instance's posthorn.conf.
ph_conf() {
	local f=$PH_CONF/posthorn.conf
	if grep -q "^$1 *=" "$f"; then
		sed -i "s|^$1 *=.*|$1 = $2|" "$f"
	else
		echo "$1 = $2" >> "$f"
	fi
}

# ph_start: start the master in the foreground (backgrounded here) and
# wait until SMTP answers and the internal sockets exist.
ph_start() {
	[ -n "${PH_DIR:-}" ] || ph_setup
	[ -f "$PH_CONF/aliases.db.keep" ] || ph_maps
	"$PH_LIBEXEC/master" -f -c "$PH_CONF" >>"$PH_LOG" 2>&1 &
	PH_MASTER=$!
	ph_wait_listen "$PH_PORT" || { cat "$PH_LOG" >&2; return 1; }
	local i
	for i in $(seq 1 100); do
		[ -S "$PH_DIR/queue/private/qmgr" ] &&
		    grep -q "queue manager started" "$PH_LOG" && return 0
		sleep 0.05
	done
	cat "$PH_LOG" >&2
	return 1
}

ph_wait_listen() {
	local i
	for i in $(seq 1 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.025
	done
	return 1
}

# ph_stop: SIGTERM the master, wait, and kill whatever is left.
ph_stop() {
	[ -n "${PH_MASTER:-}" ] || return 0
	kill -TERM "$PH_MASTER" 2>/dev/null || true
	local i
	for i in $(seq 1 200); do
		kill -0 "$PH_MASTER" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$PH_MASTER" 2>/dev/null || true
	ph_kill_children
	wait "$PH_MASTER" 2>/dev/null || true
	PH_MASTER=
}

# Every process of this instance (they all name its config directory).
ph_pids() {
	pgrep -f -- "-c $PH_CONF( |\$)" || true
}

ph_kill_children() {
	local p
	for p in $(ph_pids); do kill -KILL "$p" 2>/dev/null || true; done
}

ph_teardown() {
	local p
	for p in "${PH_SINKS[@]}"; do kill "$p" 2>/dev/null || true; done
	PH_SINKS=()
	ph_stop
	ph_check_log
	if [ -n "${PH_DIR:-}" ]; then
		if [ -n "${BATS_TEST_COMPLETED:-}" ]; then
			rm -rf "$PH_DIR"
		else
			echo "# instance kept for inspection: $PH_DIR" >&3
			echo "# --- master log ---" >&3
			tail -n 40 "$PH_LOG" 2>/dev/null | sed 's/^/# /' >&3
		fi
	fi
	PH_DIR=
}

# ph_pid_of SERVICE: pid of a service's (first) process.  The master may
# still be starting it (ph_start waits for the SMTP port only): up to 5 s.
ph_pid_of() {
	local i pid
	for i in $(seq 1 50); do
		pid=$(pgrep -f -- "-c $PH_CONF -n $1 " | head -n 1)
		[ -n "$pid" ] && break
		sleep 0.1
	done
	echo "$pid"
}

# ph_count_mail USER: messages in USER's Maildir/new.
ph_count_mail() {
	local d=$PH_MAIL/$1/Maildir/new
	[ -d "$d" ] || { echo 0; return; }
	find "$d" -type f | wc -l
}

# ph_wait_mail USER N [SECONDS]: wait until USER has N messages.
ph_wait_mail() {
	local i limit=$(( ${3:-10} * 20 ))
	for i in $(seq 1 $limit); do
		[ "$(ph_count_mail "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "# $1 has $(ph_count_mail "$1") messages, expected $2" >&3
	return 1
}

# ph_mail_file USER: the newest message file of USER.
ph_mail_file() {
	ls -t "$PH_MAIL/$1/Maildir/new/"* | head -n 1
}

# ph_smtp: run a raw SMTP dialogue.  Reads lines from stdin (use \r\n
# escapes where needed; "@wait" lines wait for a reply), prints every
# reply line the server sends.  See tests/smtpraw.py.
ph_smtp() {
	python3 "$PH_SRC/tests/smtpraw.py" 127.0.0.1 "${1:-$PH_PORT}"
}

# ph_smtps PORT: the same over implicit TLS.
ph_smtps() {
	python3 "$PH_SRC/tests/smtpraw.py" --tls 127.0.0.1 "$1"
}

# alice's AUTH password on the instance (made by mkinstance).
ph_password() {
	cat "$PH_CONF/demo-password"
}

# ph_queue_files: count files in the queue (any state).
ph_queue_files() {
	find "$PH_DIR/queue/incoming" "$PH_DIR/queue/active" \
	    "$PH_DIR/queue/deferred" -type f ! -name '.lock' | wc -l
}

# Fail the test if any process crashed on its own or a sanitizer spoke.
ph_check_log() {
	[ -f "${PH_LOG:-}" ] || return 0
	if grep -E "AddressSanitizer|runtime error:|LeakSanitizer|panic:|killed by signal (6|7|8|11)\b" "$PH_LOG" >&2; then
		echo "# crash or sanitizer report in $PH_LOG" >&3
		BATS_TEST_COMPLETED=
		return 1
	fi
}
