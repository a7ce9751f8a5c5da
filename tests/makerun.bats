#!/usr/bin/env bats
# The public contract of "make run" and "make install".

load lib

setup() {
	PH_DIR=$(mktemp -d /tmp/posthorn-test.XXXXXX)
	chmod 755 "$PH_DIR"
}

teardown() {
	if [ -n "${RUN_PGID:-}" ]; then
		kill -KILL -- "-$RUN_PGID" 2>/dev/null || true
	fi
	PH_CONF=$PH_DIR/run/etc
	ph_kill_children
	rm -rf "$PH_DIR"
}

@test "make run: instance under RUNDIR on the given ports; Ctrl-C stops everything" {
	ports=($(ph_free_ports 4))
	# The default build (build/): make run is what a newcomer types.
	setsid make -s -C "$PH_SRC" run RUNDIR="$PH_DIR/run" \
	    SMTP_PORT=${ports[0]} SUBMISSION_PORT=${ports[1]} \
	    SMTPS_PORT=${ports[2]} ODMR_PORT=${ports[3]} \
	    > "$PH_DIR/out" 2>&1 &
	RUN_PGID=$!
	ph_wait_listen "${ports[0]}" || { cat "$PH_DIR/out"; false; }
	ph_wait_listen "${ports[1]}"
	PH_MAIL=$PH_DIR/run/mail PH_CONF=$PH_DIR/run/etc
	ph_wait_listen "${ports[2]}"
	# The ODMR service: ATRN offered, after STARTTLS and AUTH.
	ph_wait_listen "${ports[3]}"
	run swaks --server 127.0.0.1:${ports[3]} --quit-after EHLO
	[[ "$output" == *"250-ATRN"* ]]
	[[ "$output" == *"250-STARTTLS"* ]]
	run swaks --server 127.0.0.1:${ports[0]} --from x@example.org \
	    --to alice@localhost --body "via smtp"
	[ "$status" -eq 0 ]
	# Submission and SMTPS: TLS with the instance's own certificate, and
	# AUTH as alice with the password make run said where to find.
	grep -q "$PH_DIR/run/etc/demo-password" "$PH_DIR/out"
	pw=$(cat "$PH_DIR/run/etc/demo-password")
	[ "$(stat -c %a "$PH_DIR/run/etc/demo-password")" = 600 ]
	run swaks --server 127.0.0.1:${ports[1]} --from x@example.org \
	    --to alice@localhost --body "via submission"
	[[ "$output" == *"530 5.7.0 Authentication required"* ]]
	run swaks --server 127.0.0.1:${ports[1]} --tls --auth PLAIN \
	    --auth-user alice --auth-password "$pw" --from alice@localhost \
	    --to alice@localhost --body "via submission"
	[ "$status" -eq 0 ]
	run swaks --server 127.0.0.1:${ports[2]} --tlsc --auth LOGIN \
	    --auth-user alice --auth-password "$pw" --from alice@localhost \
	    --to alice@localhost --body "via smtps"
	[ "$status" -eq 0 ]
	openssl x509 -in "$PH_DIR/run/etc/tls/cert.pem" -noout -subject |
	    grep -q "CN *= *localhost"
	run swaks --server 127.0.0.1:${ports[0]} --from x@example.org \
	    --to postmaster@localhost --body "to postmaster"
	[ "$status" -eq 0 ]
	run swaks --server 127.0.0.1:${ports[0]} --from x@example.org \
	    --to carol@localhost --body "nobody"
	[[ "$output" == *"550 5.1.1"* ]]
	ph_wait_mail alice 4
	swaks --server 127.0.0.1:${ports[0]} --to bob@localhost --body b >/dev/null
	ph_wait_mail bob 1
	# Ctrl-C: SIGINT to the foreground process group.
	kill -INT -- "-$RUN_PGID"
	for i in $(seq 1 100); do
		[ -z "$(ph_pids)" ] && break
		sleep 0.05
	done
	[ -z "$(ph_pids)" ]
	wait "$RUN_PGID" || true
	RUN_PGID=
	grep -q "posthorn master stopped" "$PH_DIR/out"
}

@test "make install honours PREFIX and DESTDIR" {
	# Its own build: PREFIX is compiled into the programs.
	run make -s -C "$PH_SRC" install BUILD="$PH_DIR/build" OPT=-O0 \
	    PREFIX=/opt/ph DESTDIR="$PH_DIR/dest"
	[ "$status" -eq 0 ]
	grep -q /opt/ph/etc/posthorn "$PH_DIR/dest/opt/ph/libexec/posthorn/master"
	for p in master smtpd qmgr local; do
		[ -x "$PH_DIR/dest/opt/ph/libexec/posthorn/$p" ]
	done
	for f in posthorn.conf master.conf aliases mailboxes; do
		[ -f "$PH_DIR/dest/opt/ph/etc/posthorn/$f" ]
	done
	grep -qx 'daemon_directory = /opt/ph/libexec/posthorn' \
	    "$PH_DIR/dest/opt/ph/etc/posthorn/posthorn.conf"
	grep -q '^smtp .*\*:25 ' "$PH_DIR/dest/opt/ph/etc/posthorn/master.conf"
	# ODMR is there to enable, not on by default.
	grep -q '^#odmr .*\*:366 .*odmr_service=yes' "$PH_DIR/dest/opt/ph/etc/posthorn/master.conf"
	[ -x "$PH_DIR/dest/opt/ph/sbin/posthorn-atrn" ]
	[ -f "$PH_DIR/dest/opt/ph/share/man/man8/smtpd.8" ]
	[ -f "$PH_DIR/dest/opt/ph/share/man/man5/posthorn.conf.5" ]
	for t in posthorn posthorn-conf posthorn-queue sendmail posthorn-postdrop mailq newaliases; do
		[ -x "$PH_DIR/dest/opt/ph/sbin/$t" ]
	done
	[ -x "$PH_DIR/dest/opt/ph/libexec/posthorn/pickup" ]
	[ -f "$PH_DIR/dest/opt/ph/share/man/man8/mailq.8" ]
	[ -f "$PH_DIR/dest/opt/ph/share/man/man8/sendmail.8" ]
	# The systemd unit names the installed paths and is valid.
	u=$PH_DIR/dest/opt/ph/lib/systemd/system/posthorn.service
	grep -qx 'ExecStart=/opt/ph/libexec/posthorn/master -c /opt/ph/etc/posthorn' "$u"
	grep -qx 'ExecReload=/opt/ph/sbin/posthorn -c /opt/ph/etc/posthorn reload' "$u"
	grep -qx 'PIDFile=/var/spool/posthorn/pid/master.pid' "$u"
	if grep -q @ "$u"; then false; fi
	if command -v systemd-analyze >/dev/null; then
		run systemd-analyze verify --man=no "$u"
		echo "$output"
		[[ "$output" != *"Unknown key"* && "$output" != *"Unknown section"* ]]
	fi
	# A second install keeps the administrator's edits.
	echo "# edited" >> "$PH_DIR/dest/opt/ph/etc/posthorn/posthorn.conf"
	make -s -C "$PH_SRC" install BUILD="$PH_DIR/build" OPT=-O0 \
	    PREFIX=/opt/ph DESTDIR="$PH_DIR/dest" >/dev/null
	tail -n 1 "$PH_DIR/dest/opt/ph/etc/posthorn/posthorn.conf" | grep -qx '# edited'
}
