# relay_lib: helpers shared by the relay tests (remote.bats, etrn.bats):
# a second instance B, the transport map, sending, waiting for log lines,
# a DNS server, the queue tool.  The caller's teardown stops B.

# start_b: a second instance, B, taking mail for remote.test (and the
# domains of B_DOMAINS, comma-separated); its ports are bports (smtp,
# submission, smtps, odmr).  A certificate already in $PH_DIR/b/etc/tls
# (cert.pem, key.pem) is kept.
start_b() {
	bports=($(ph_free_ports 4))
	sh "$PH_SRC/master/mkinstance" "$PH_DIR/b" "$PH_LIBEXEC" "${bports[@]}" >/dev/null
	sed -i "s/^local_domains = .*/local_domains = localhost, remote.test${B_DOMAINS:+, $B_DOMAINS}/" \
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

# zone NAME KIND RECORD...: a zone for dnssec_dns.  KIND is signed
# (validated: the resolver sets AD), insecure (no signatures, no trust
# anchor) or bogus (signed with a key the resolver does not trust: every
# answer is SERVFAIL).  Records are zone-file lines relative to NAME.
zone() {
	local name=$1 kind=$2
	shift 2
	mkdir -p "$PH_DIR/dns"
	{
		printf '$ORIGIN %s.\n$TTL 300\n' "$name"
		printf '@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n' \
		    "$name" "$name"
		printf '@ IN NS ns.%s.\nns IN A 127.0.0.1\n' "$name"
		printf '%s\n' "$@"
	} > "$PH_DIR/dns/$name.zone"
	echo "$name $kind" >> "$PH_DIR/dns/zones"
}

# dnssec_dns: a validating unbound on a loopback port serving the zones
# made by zone; the instance's dns_resolver points at it.
dnssec_dns() {
	command -v unbound >/dev/null || skip "unbound missing"
	command -v ldns-signzone >/dev/null ||
	    skip "ldns-signzone (ldnsutils) missing"
	local dport name kind key file conf=$PH_DIR/dns/unbound.conf
	dport=$(ph_free_ports 1)
	cat > "$conf" <<-UNBOUND
	server:
	interface: 127.0.0.1@$dport
	port: $dport
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "$PH_DIR/dns"
	pidfile: ""
	use-syslog: no
	logfile: "$PH_DIR/dns/unbound.log"
	do-not-query-localhost: no
	module-config: "validator iterator"
	local-zone: "test." nodefault
	val-log-level: 2
	UNBOUND
	while read -r name kind; do
		file=$name.zone
		if [ "$kind" != insecure ]; then
			key=$(cd "$PH_DIR/dns" &&
			    ldns-keygen -a ECDSAP256SHA256 -k "$name")
			(cd "$PH_DIR/dns" && ldns-signzone "$name.zone" "$key") ||
			    return 1
			file=$name.zone.signed
			# bogus: the resolver trusts another key.
			[ "$kind" != bogus ] || key=$(cd "$PH_DIR/dns" &&
			    ldns-keygen -a ECDSAP256SHA256 -k "$name")
			printf 'trust-anchor-file: "%s"\n' \
			    "$PH_DIR/dns/$key.key" >> "$conf"
		fi
		printf 'auth-zone:\nname: "%s."\nzonefile: "%s"\n' \
		    "$name" "$PH_DIR/dns/$file" >> "$conf"
		printf 'for-upstream: yes\nfor-downstream: no\n' >> "$conf"
		printf 'fallback-enabled: no\nserver:\n' >> "$conf"
	done < "$PH_DIR/dns/zones"
	unbound -d -c "$conf" > "$PH_DIR/dns/unbound.out" 2>&1 &
	PH_SINKS+=($!)
	ph_wait_listen "$dport"
	ph_conf dns_resolver "127.0.0.1:$dport"
}

# tlsa_ee CERT: "3 1 1 <SHA-256 of its public key>" (DANE-EE).
tlsa_ee() {
	printf '3 1 1 %s' "$(openssl x509 -in "$1" -noout -pubkey |
	    openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
}

# tlsa_ta CERT: "2 0 1 <SHA-256 of the certificate>" (DANE-TA).
tlsa_ta() {
	printf '2 0 1 %s' "$(openssl x509 -in "$1" -outform DER |
	    sha256sum | cut -d' ' -f1)"
}

# cert_for NAMES DIR [CA]: a key and certificate for NAMES (one, or
# several joined by commas) in DIR (key.pem, cert.pem), self-signed or
# signed by the CA in DIR CA (ca.pem, ca.key); with a CA, cert.pem holds
# the chain (the certificate, then the CA's).
cert_for() {
	local name=${1%%,*} dir=$2 ca=${3:-} san
	san=DNS:${1//,/,DNS:}
	mkdir -p "$dir"
	if [ -z "$ca" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -days 30 -subj "/CN=$name" \
		    -addext "subjectAltName=$san" \
		    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
		return
	fi
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj "/CN=$name" -keyout "$dir/key.pem" -out "$dir/req.pem" \
	    2>/dev/null
	printf 'subjectAltName=%s\n' "$san" > "$dir/ext"
	openssl x509 -req -in "$dir/req.pem" -CA "$ca/ca.pem" \
	    -CAkey "$ca/ca.key" -CAcreateserial -days 30 \
	    -extfile "$dir/ext" -out "$dir/leaf.pem" 2>/dev/null
	cat "$dir/leaf.pem" "$ca/ca.pem" > "$dir/cert.pem"
}

# test_ca DIR: a CA (ca.pem, ca.key) in DIR.
test_ca() {
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -days 30 -subj "/CN=posthorn test CA" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" \
	    -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null
}

# sts_policy DOMAIN TEXT: the MTA-STS policy httpsd serves for DOMAIN.
sts_policy() {
	mkdir -p "$PH_DIR/www/mta-sts.$1/.well-known"
	printf '%b' "$2" > "$PH_DIR/www/mta-sts.$1/.well-known/mta-sts.txt"
}

# httpsd CERTDIR: the HTTPS server of the MTA-STS policies, on a free port
# (HTTPS_PORT), with CERTDIR's key and chain; the instance fetches there.
httpsd() {
	HTTPS_PORT=$(ph_free_ports 1)
	mkdir -p "$PH_DIR/www"
	python3 "$PH_SRC/tests/httpsd.py" "$HTTPS_PORT" "$PH_DIR/www" \
	    "$1/cert.pem" "$1/key.pem" "$PH_DIR/https.log" \
	    > "$PH_DIR/httpsd.out" 2>&1 &
	HTTPSD_PID=$!
	PH_SINKS+=($!)
	local i
	for i in $(seq 1 100); do
		grep -q ready "$PH_DIR/httpsd.out" 2>/dev/null && break
		sleep 0.05
	done
	ph_conf smtp_mta_sts_https_port "$HTTPS_PORT"
}
