#!/usr/bin/env bats
# Confinement, read from /proc (as root): only master and local keep root;
# every other process runs as its own user, with no supplementary group
# but its own (and shadow for auth when configured), no capabilities,
# no_new_privs, smtpd and keyd chrooted into the queue; smtpd cannot read
# the queue, the TLS key or the password map.

load lib
load relay_lib

setup() {
	[ "$(id -u)" -eq 0 ] || skip "confinement needs a root start"
	ph_setup
}

teardown() {
	ph_teardown
}

# field PID NAME: a line of /proc/PID/status, without its name.
field() {
	awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"
}

@test "every process: its user, its group only, no capabilities, no_new_privs; chroots" {
	ph_start
	sleep 0.5
	n=0
	for p in $(ph_pids); do
		prog=$(basename "$(tr '\0' '\n' < /proc/$p/cmdline | head -n 1)")
		uid=$(field "$p" Uid | awk '{print $1}')
		case $prog in
		master|local)
			[ "$uid" -eq 0 ] ;;
		*)
			user=$(tr '\0' '\n' < /proc/$p/cmdline | grep -A1 -x -- -u | tail -n 1)
			echo "$prog $p $user"
			u=$(id -u "$user")
			[ "$(field "$p" Uid)" = "$u $u $u $u" ]
			g=$(id -g "$user")
			[ "$(field "$p" Gid | awk '{print $1 $2 $3 $4}')" = "$g$g$g$g" ]
			[ "$(field "$p" Groups | xargs)" = "$g" ]
			[ "$(field "$p" CapEff)" = 0000000000000000 ]
			[ "$(field "$p" CapPrm)" = 0000000000000000 ]
			[ "$(field "$p" NoNewPrivs)" = 1 ]
			n=$((n + 1)) ;;
		esac
		case $prog in
		smtpd|keyd)
			[ "$(readlink /proc/$p/root)" = "$PH_DIR/queue" ] ;;
		esac
	done
	[ "$n" -ge 5 ]
}

@test "smtpd's user cannot read a queue file, the TLS key or the password map" {
	command -v setpriv >/dev/null || skip "setpriv (util-linux) missing"
	transport "hold.test hold"
	ph_start
	python3 - "$PH_PORT" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.sendmail("s@localhost", ["x@hold.test"], "Subject: kept\r\n\r\nsecret\r\n")
PY
	for i in $(seq 1 100); do
		f=$(find "$PH_DIR/queue" -path '*/hold/*' -type f | head -n 1)
		[ -n "$f" ] && break
		sleep 0.05
	done
	[ -n "$f" ]
	p=$(ph_pid_of smtp)
	u=$(field "$p" Uid | awk '{print $1}')
	g=$(field "$p" Gid | awk '{print $1}')
	as_smtpd() { setpriv --reuid="$u" --regid="$g" --clear-groups "$@"; }
	if as_smtpd cat "$f"; then false; fi
	key=$(awk -F' *= *' '$1 == "smtpd_tls_key_file" {print $2}' "$PH_CONF/posthorn.conf")
	[ -n "$key" ]
	if as_smtpd cat "$key"; then false; fi
	if as_smtpd cat "$PH_CONF/passwd.db"; then false; fi
	# Root can: the files are there.
	cat "$f" >/dev/null
	cat "$key" >/dev/null
	cat "$PH_CONF/passwd.db" >/dev/null
}
