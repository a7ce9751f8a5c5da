#!/usr/bin/env bats
# A hostile server against the relay client (compare OpenSMTPD's
# CVE-2020-8794): endless multi-line replies and endless lines end the
# session in bounded memory; the mail is deferred, never lost.

load lib
load relay_lib

setup() {
	ph_setup
	ph_conf minimal_backoff_time 60s
}

teardown() {
	ph_teardown
}

# hostile MODE PORT: a server on PORT that answers with endless junk.
hostile() {
	python3 - "$1" "$2" > "$PH_DIR/hostile.out" 2>&1 <<'PY' &
import socket, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(8)
print("ready", flush=True)
def serve(c):
    try:
        if mode == "lines":
            chunk = b"220-hostile " + b"x" * 60 + b"\r\n"
            while True:
                c.sendall(chunk * 64)
        else:
            while True:
                c.sendall(b"220 " + b"y" * 65536)
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	PH_SINKS+=($!)
	for i in $(seq 1 100); do
		grep -q ready "$PH_DIR/hostile.out" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

@test "an endless multi-line greeting: the session is given up after 1000 lines, the mail deferred" {
	port=$(ph_free_ports 1)
	hostile lines "$port"
	transport "hostile.test smtp:[127.0.0.1]:$port"
	ph_start
	send s@localhost victim@hostile.test
	wait_log "a reply of more than 1000 lines; session given up" 20
	wait_log "to=<victim@hostile.test>, .*status=deferred" 20
	# The agent is still there and small.
	for p in $(pgrep -f -- "-c $PH_CONF -n relay "); do
		rss=$(awk '/VmRSS/{print $2}' /proc/$p/status)
		[ "$rss" -lt 65536 ]
	done
	[ "$(ph_queue_files)" -eq 1 ]
}

@test "an endless reply line: cut at the line limit, the mail deferred" {
	port=$(ph_free_ports 1)
	hostile line "$port"
	transport "hostile.test smtp:[127.0.0.1]:$port"
	ph_start
	send s@localhost victim@hostile.test
	wait_log "to=<victim@hostile.test>, .*status=deferred \(lost connection with .* while receiving the initial server greeting" 20
	[ "$(ph_queue_files)" -eq 1 ]
}
