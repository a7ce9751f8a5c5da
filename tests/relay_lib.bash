# relay_lib: helpers shared by the relay tests (remote.bats, etrn.bats):
# a second instance B, the transport map, sending, waiting for log lines,
# a DNS server, the queue tool.  The caller's teardown stops B.

# start_b: a second instance, B, taking mail for remote.test; its ports
# are bports (smtp, submission, smtps, odmr).
start_b() {
	bports=($(ph_free_ports 4))
	sh "$PH_SRC/master/mkinstance" "$PH_DIR/b" "$PH_LIBEXEC" "${bports[@]}" >/dev/null
	sed -i 's/^local_domains = .*/local_domains = localhost, remote.test/' \
	    "$PH_DIR/b/etc/posthorn.conf"
	sed -i 's/^drain_timeout = .*/drain_timeout = 5s/' "$PH_DIR/b/etc/posthorn.conf"
	"$PH_LIBEXEC/master" -f -c "$PH_DIR/b/etc" > "$PH_DIR/b.log" 2>&1 &
	B_MASTER=$!
	ph_wait_listen "${bports[0]}"
	ph_wait_listen "${bports[1]}"
}

# stop_b: stop B if it was started (teardown).
stop_b() {
	if [ -n "${B_MASTER:-}" ]; then
		kill -TERM "$B_MASTER" 2>/dev/null || true
		wait "$B_MASTER" 2>/dev/null || true
		pkill -KILL -f -- "-c $PH_DIR/b/etc( |\$)" 2>/dev/null || true
		B_MASTER=
	fi
}

# b_mail USER: messages in B's USER Maildir.
b_mail() {
	find "$PH_DIR/b/mail/$1" -path '*/new/*' -type f 2>/dev/null | wc -l
}

# b_wait_mail USER N: wait (up to 10 s) until USER of instance B has N
# messages, then succeed only if it has exactly N.  B's local delivery
# runs after its 250, so a sender that has finished may be ahead of it.
b_wait_mail() {
	local i
	for i in $(seq 1 200); do
		[ "$(b_mail "$1")" -ge "$2" ] && break
		sleep 0.05
	done
	[ "$(b_mail "$1")" -eq "$2" ] || {
		echo "# B's $1 has $(b_mail "$1") messages, expected $2" >&3
		return 1
	}
}

# transport KEY VALUE...: lines of the instance's transport map.
transport() {
	printf '%s\n' "$@" > "$PH_CONF/transport"
	"$PH_BUILD/bin/posthorn-map" "hash:$PH_CONF/transport"
	ph_conf transport_map "hash:$PH_CONF/transport"
}

# send FROM TO... (a small message through the instance's port 25)
send() {
	local from=$1
	shift
	python3 - "$PH_PORT" "$from" "$@" <<'PY'
import smtplib, sys
port, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
msg = "Subject: relayed\r\nFrom: <%s>\r\n\r\nbody line\r\n.starts with a dot\r\n" % sender
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    refused = s.sendmail(sender, rcpts, msg)
PY
}

wait_log() {
	local i
	for i in $(seq 1 $(( ${2:-10} * 20 ))); do
		grep -qE "$1" "$PH_LOG" && return 0
		sleep 0.05
	done
	echo "# not in the log: $1" >&3
	return 1
}

# dns ARGS...: a dnsmasq on a loopback port answering for *.test only;
# the instance's resolver and smtp_port point at it and at the sink.
dns() {
	command -v dnsmasq >/dev/null || skip "dnsmasq (dnsmasq-base) missing"
	local dport
	dport=$(ph_free_ports 1)
	dnsmasq -k --port="$dport" --listen-address=127.0.0.1 \
	    --bind-interfaces --no-resolv --no-hosts --local=/test/ \
	    --user="$(id -un)" --pid-file= "$@" > "$PH_DIR/dns.log" 2>&1 &
	PH_SINKS+=($!)
	ph_conf dns_resolver "127.0.0.1:$dport"
	sleep 0.3
}

# wait_sent ADDR N: until N lines say status=sent for ADDR (a regex end).
wait_sent() {
	for i in $(seq 1 200); do
		[ "$(grep -c "$1>, .*status=sent" "$PH_LOG")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# pq ARGS...: the queue tool against this instance.
pq() {
	"$PH_BUILD/bin/posthorn-queue" -c "$PH_CONF" "$@"
}

# deferred_file ADDR: the deferred queue file holding recipient ADDR.
deferred_file() {
	grep -rla "$1" "$PH_DIR/queue/deferred" | head -1
}
