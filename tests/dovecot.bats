#!/usr/bin/env bats
# LMTP to a real Dovecot (dovecot-lmtpd), started by the test on a UNIX
# socket with its own configuration, users and mail under the test's
# directory: per-recipient results after DATA are honoured.

load lib
load relay_lib

setup() {
	[ "$(id -u)" -eq 0 ] || skip "Dovecot delivers as its users' uid: needs root"
	ph_setup
	ph_conf minimal_backoff_time 1s
	ph_conf maximal_backoff_time 2s
	ph_conf queue_run_delay 1s
	DV=$PH_DIR/dovecot
	DV_PID=
}

teardown() {
	if [ -n "${DV_PID:-}" ]; then
		kill -TERM "$DV_PID" 2>/dev/null || true
		for i in $(seq 1 40); do
			kill -0 "$DV_PID" 2>/dev/null || break
			sleep 0.05
		done
		pkill -KILL -f -- "-c $DV/dovecot.conf" 2>/dev/null || true
	fi
	ph_teardown
}

# dv_users QUOTA: anna (100 MB) and full (QUOTA bytes of storage).
dv_users() {
	local uid gid
	uid=$(id -u nobody) gid=$(id -g nobody)
	cat > "$DV/users.new" <<EOF
anna:{PLAIN}x:$uid:$gid::$DV/mail/anna::
full:{PLAIN}x:$uid:$gid::$DV/mail/full::userdb_quota_rule=*:storage=$1B
EOF
	mv "$DV/users.new" "$DV/users"
}

start_dovecot() {
	mkdir -p "$DV/run" "$DV/state" "$DV/mail/anna" "$DV/mail/full"
	chown -R nobody: "$DV/mail"
	dv_users 1
	cat > "$DV/dovecot.conf" <<EOF
base_dir = $DV/run
state_dir = $DV/state
log_path = $DV/dovecot.log
protocols = lmtp
ssl = no
listen = 127.0.0.1
mail_location = maildir:~/Maildir
auth_username_format = %Ln
passdb {
  driver = passwd-file
  args = $DV/users
}
userdb {
  driver = passwd-file
  args = $DV/users
}
service lmtp {
  unix_listener $DV/lmtp.sock {
    mode = 0666
  }
}
protocol lmtp {
  mail_plugins = quota
}
lmtp_rcpt_check_quota = yes
quota_full_tempfail = yes
plugin {
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=100M
}
EOF
	dovecot -F -c "$DV/dovecot.conf" > "$DV/foreground.log" 2>&1 &
	DV_PID=$!
	for i in $(seq 1 100); do
		[ -S "$DV/lmtp.sock" ] && return 0
		sleep 0.05
	done
	cat "$DV/foreground.log" "$DV/dovecot.log" >&2
	return 1
}

dv_count() {	# dv_count USER: messages in USER's Dovecot Maildir
	find "$DV/mail/$1/Maildir/new" "$DV/mail/$1/Maildir/cur" -type f \
	    2>/dev/null | wc -l
}

@test "LMTP to Dovecot: one mailbox over quota is deferred alone, an unknown user bounces, the rest is delivered once" {
	start_dovecot
	transport "dovecot.test lmtp:unix:$DV/lmtp.sock"
	ph_start
	send alice@localhost anna@dovecot.test full@dovecot.test nobody@dovecot.test
	wait_log "to=<anna@dovecot.test>, relay=$DV/lmtp.sock, .*dsn=2.0.0, status=sent"
	wait_log "to=<full@dovecot.test>, relay=$DV/lmtp.sock, .*dsn=4.2.2, status=deferred \(.*Quota exceeded"
	wait_log "to=<nobody@dovecot.test>, relay=$DV/lmtp.sock, .*dsn=5.1.1, status=bounced"
	[ "$(dv_count anna)" -eq 1 ]
	[ "$(dv_count full)" -eq 0 ]
	grep -q "lmtp(anna).*saved mail to INBOX" "$DV/dovecot.log"
	# The bounce for nobody reached the sender.
	ph_wait_mail alice 1
	grep -q "nobody@dovecot.test" "$(ph_mail_file alice)"
	# Room in the mailbox: the retry delivers to full alone.
	dv_users 104857600
	wait_log "to=<full@dovecot.test>, relay=$DV/lmtp.sock, .*dsn=2.0.0, status=sent" 20
	[ "$(dv_count full)" -eq 1 ]
	grep -q "body line" "$(find "$DV/mail/full/Maildir" -type f -path '*/new/*')"
	sleep 0.5
	[ "$(dv_count anna)" -eq 1 ]
	[ "$(grep -c "lmtp(anna).*saved mail to INBOX" "$DV/dovecot.log")" -eq 1 ]
	[ "$(ph_queue_files)" -eq 0 ]
}
