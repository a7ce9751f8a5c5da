# A private Postfix instance for the interoperability tests: its own
# config, queue and mailboxes under a temp dir, listening on one loopback
# port, delivering alice@localhost and bob@localhost to Maildirs by
# virtual(8).  Needs root (Postfix's master starts as root) and Debian's
# postfix package; the system's own Postfix instance is never touched.

# pf_start DIR PORT [main.cf lines...]
pf_start() {
	local dir=$1 port=$2 uid gid
	shift 2
	mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/mail" "$dir/log"
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	chown postfix "$dir/data"
	chown "$uid:$gid" "$dir/mail"
	printf 'alice@localhost alice/Maildir/\nbob@localhost bob/Maildir/\n' \
	    > "$dir/etc/vmailbox"
	cat > "$dir/etc/main.cf" <<EOF2
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file = $dir/log/maillog
maillog_file_prefixes = $dir/log
myhostname = pf.localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
alias_maps =
alias_database =
virtual_mailbox_domains = localhost
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = texthash:$dir/etc/vmailbox
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_minimum_uid = 1
EOF2
	printf '%s\n' "$@" >> "$dir/etc/main.cf"
	cat > "$dir/etc/master.cf" <<EOF2
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
EOF2
	postfix -c "$dir/etc" check >/dev/null 2>&1 || return 1
	postfix -c "$dir/etc" start >/dev/null 2>&1 || return 1
	ph_wait_listen "$port"
}

pf_stop() {
	[ -f "$1/etc/main.cf" ] || return 0
	postfix -c "$1/etc" stop >/dev/null 2>&1 || true
	local i
	for i in $(seq 1 50); do
		[ -f "$1/queue/pid/master.pid" ] || return 0
		kill -0 "$(tr -d ' ' < "$1/queue/pid/master.pid")" 2>/dev/null ||
		    return 0
		sleep 0.1
	done
}
