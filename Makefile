# posthorn: build, run, test, install.  See README.md.
#
#   make run      build and run an instance under RUNDIR in the foreground
#   make check    build with -Werror and run the bats suite
#   make check-asan   the same suite on an ASan+UBSan build
#   make install  PREFIX=/usr/local DESTDIR= (SYSTEMDUNITDIR for the unit)

PREFIX		?= /usr/local
SYSCONFDIR	?= $(PREFIX)/etc
LIBEXECDIR	?= $(PREFIX)/libexec/posthorn
SBINDIR		?= $(PREFIX)/sbin
MANDIR		?= $(PREFIX)/share/man
SPOOLDIR	?= /var/spool/posthorn
SYSTEMDUNITDIR	?= $(PREFIX)/lib/systemd/system
DESTDIR		?=

RUNDIR		?= $(CURDIR)/run
SMTP_PORT	?= 2525
SUBMISSION_PORT	?= 2587
SMTPS_PORT	?= 2465
ODMR_PORT	?= 2366

BUILD		?= build
CC		?= cc
OPT		?= -O2 -g
SAN		?=
WARN		= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wformat=2 \
		  -Wmissing-prototypes -Wstrict-prototypes
CPPFLAGS	+= -D_GNU_SOURCE -Icommon \
		   -DDAEMON_DIR='"$(LIBEXECDIR)"' \
		   -DCONFIG_DIR='"$(SYSCONFDIR)/posthorn"'
CFLAGS		?=
CFLAGS		+= -std=gnu11 $(OPT) $(WARN) $(SAN) -MMD -MP
# Bind every symbol at start (and make the GOT read-only): a delivery
# child then resolves nothing, and nothing it resolves can be redirected.
LDFLAGS		+= $(SAN) -Wl,-z,now -Wl,-z,relro
LDLIBS		+= -lssl -lcrypto -lcrypt -lresolv -ldb -lbsd -pthread

COMMON_SRC	= $(wildcard common/*.c)
MASTER_SRC	= master/master.c master/mconf.c master/qdirs.c master/spawn.c
MAPTOOL_SRC	= master/posthorn-map.c
CTL_SRC		= master/posthorn.c
CONFTOOL_SRC	= master/posthorn-conf.c
ATRNTOOL_SRC	= smtpd/posthorn-atrn.c
SMTPD_SRC	= $(filter-out $(ATRNTOOL_SRC),$(wildcard smtpd/*.c))
QUEUETOOL_SRC	= queue/posthorn-queue.c
SENDMAIL_SRC	= queue/sendmail.c
POSTDROP_SRC	= queue/postdrop.c
PICKUP_SRC	= queue/pickup.c
QMGR_SRC	= $(filter-out $(QUEUETOOL_SRC) $(SENDMAIL_SRC) $(POSTDROP_SRC) \
		  $(PICKUP_SRC),$(wildcard queue/*.c))
LOCAL_SRC	= $(wildcard deliver/*.c)
SMTP_SRC	= $(wildcard deliver/smtp/*.c)
KEYD_SRC	= $(wildcard keyd/*.c)
AUTH_SRC	= $(wildcard auth/*.c)
TLSRPTTOOL_SRC	= tlspol/posthorn-tlsrpt.c tlspol/tlsrpt_mail.c
TLSPOL_SRC	= tlspol/tlspol.c

obj		= $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROGRAMS	= $(addprefix $(BUILD)/libexec/,master smtpd qmgr local smtp keyd auth \
		  pickup tlspol)
TOOLS		= $(BUILD)/bin/posthorn $(BUILD)/bin/posthorn-conf \
		  $(BUILD)/bin/posthorn-map $(BUILD)/bin/posthorn-queue \
		  $(BUILD)/bin/posthorn-atrn $(BUILD)/bin/sendmail \
		  $(BUILD)/bin/posthorn-postdrop $(BUILD)/bin/posthorn-tlsrpt
UNIT_SRC	= $(wildcard tests/unit/*.c)
UNITS		= $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

DEB_BUILD	= gcc make libc6-dev libcrypt-dev libssl-dev libbsd-dev libdb-dev \
		  openssl
DEB_TEST	= bats swaks libnet-ssleay-perl libio-socket-ssl-perl python3 haproxy \
		  python3-milter opendkim opendkim-tools python3-dkim \
		  dovecot-lmtpd \
		  mandoc clang libclang-rt-14-dev dnsmasq-base unbound ldnsutils postfix \
		  pflogsumm gdb strace

.PHONY: all run check check-asan check-valgrind bench install clean deps \
	deps-test test test-asan lint-man fuzz

all: $(PROGRAMS) $(TOOLS) $(BUILD)/bin/newaliases $(BUILD)/bin/mailq $(UNITS)

$(BUILD)/bin/posthorn-map: $(call obj,$(MAPTOOL_SRC)) $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/posthorn: $(call obj,$(CTL_SRC)) $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/posthorn-conf: $(call obj,$(CONFTOOL_SRC)) $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/sendmail: $(call obj,$(SENDMAIL_SRC)) $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/posthorn-postdrop: $(call obj,$(POSTDROP_SRC)) $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/posthorn-queue: $(call obj,$(QUEUETOOL_SRC)) $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/posthorn-atrn: $(call obj,$(ATRNTOOL_SRC)) $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/posthorn-tlsrpt: $(call obj,$(TLSRPTTOOL_SRC)) $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/mailq: $(BUILD)/bin/posthorn-queue
	ln -sf posthorn-queue $@

$(BUILD)/bin/newaliases: $(BUILD)/bin/posthorn-map
	ln -sf posthorn-map $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libcommon.a: $(call obj,$(COMMON_SRC))
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/libexec/master: $(call obj,$(MASTER_SRC)) $(BUILD)/libcommon.a
$(BUILD)/libexec/smtpd: $(call obj,$(SMTPD_SRC)) $(BUILD)/libcommon.a
$(BUILD)/libexec/qmgr: $(call obj,$(QMGR_SRC)) $(BUILD)/libcommon.a
$(BUILD)/libexec/local: $(call obj,$(LOCAL_SRC)) $(BUILD)/libcommon.a
$(BUILD)/libexec/smtp: $(call obj,$(SMTP_SRC)) $(BUILD)/libcommon.a
$(BUILD)/libexec/keyd: $(call obj,$(KEYD_SRC)) $(BUILD)/libcommon.a
$(BUILD)/libexec/auth: $(call obj,$(AUTH_SRC)) $(BUILD)/libcommon.a
$(BUILD)/libexec/pickup: $(call obj,$(PICKUP_SRC)) $(BUILD)/libcommon.a
$(BUILD)/libexec/tlspol: $(call obj,$(TLSPOL_SRC)) $(BUILD)/libcommon.a

$(PROGRAMS):
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Rebuild everything when the flags change (PREFIX is compiled in).
BUILD_FLAGS	:= $(CC) $(CPPFLAGS) $(CFLAGS)
ifneq ($(file <$(BUILD)/flags),$(BUILD_FLAGS))
$(shell mkdir -p $(BUILD))
$(file >$(BUILD)/flags,$(BUILD_FLAGS))
endif

$(BUILD)/obj/%.o: %.c $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/obj/tests/unit/*.d)

# Missing Debian packages: installed when root, else named exactly.
deps:
	@sh tests/deps.sh $(DEB_BUILD)

deps-test:
	@sh tests/deps.sh $(DEB_BUILD) $(DEB_TEST)

run: deps
	@$(MAKE) --no-print-directory all
	@sh master/mkinstance "$(RUNDIR)" "$(abspath $(BUILD))/libexec" \
	    $(SMTP_PORT) $(SUBMISSION_PORT) $(SMTPS_PORT) $(ODMR_PORT)
	@echo "posthorn: SMTP on 127.0.0.1:$(SMTP_PORT) (STARTTLS)," \
	    "submission on 127.0.0.1:$(SUBMISSION_PORT) (STARTTLS, AUTH" \
	    "required), SMTPS on 127.0.0.1:$(SMTPS_PORT) (implicit TLS)," \
	    "ODMR on 127.0.0.1:$(ODMR_PORT) (ATRN after STARTTLS and AUTH);" \
	    "mail for alice@localhost and bob@localhost lands in" \
	    "$(RUNDIR)/mail/USER/Maildir/new/; AUTH as alice with the" \
	    "password in $(RUNDIR)/etc/demo-password; the self-signed" \
	    "certificate is $(RUNDIR)/etc/tls/cert.pem; Ctrl-C stops."
	@exec "$(abspath $(BUILD))/libexec/master" -f -c "$(RUNDIR)/etc"

check: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test

test:
	POSTHORN_BUILD="$(abspath $(BUILD))" bats --tap tests

# On demand: every daemon under valgrind memcheck through mixed mail
# (tests/valgrind.bats); a few minutes.
check-valgrind: deps-test all
	@command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind"; exit 1; }
	POSTHORN_VALGRIND=1 POSTHORN_BUILD="$(abspath $(BUILD))" \
	    bats --tap tests/valgrind.bats

# Not part of check: posthorn against a private Postfix, same loads, same
# run (root; Postfix's smtp-source and smtp-sink; ../shared/bench).  The
# table is printed and appended to BENCHMARKS.md.  BENCH_FLAGS=--quick.
bench: all
	@command -v smtp-source >/dev/null || { echo "smtp-source is missing: apt-get install postfix"; exit 1; }
	tools/bench $(BENCH_FLAGS) --out BENCHMARKS.md

check-asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=undefined" all
	@$(MAKE) --no-print-directory BUILD=build/asan test-asan

# makerun.bats builds and runs the default build itself, not this one:
# under ASan it would only repeat the first run.
test-asan:
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	POSTHORN_BUILD="$(abspath $(BUILD))" bats --tap \
	    $(filter-out tests/makerun.bats,$(wildcard tests/*.bats))

# libFuzzer harnesses for the parsers of untrusted bytes; each runs
# FUZZ_SECONDS from its seed corpus (a crash fails the target).  The
# daemons' log lines go nowhere (-close_fd_mask=2); libFuzzer's own
# output and the sanitizers' reports still reach the log, and a crashing
# input is kept as build/fuzz/NAME-crash-* (run the harness on it alone
# for the whole story; FUZZ_TRACE=1 has fuzz_smtpd print the replies).
FUZZ_SECONDS	?= 20
FUZZERS		= $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/*.c))
FUZZ_CFLAGS	= -std=gnu11 -g -O1 -D_GNU_SOURCE -Icommon \
		  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
# Harnesses of a daemon's parts link its sources too, without its main.
FUZZ_SMTPD_SRC	= $(filter-out smtpd/smtpd.c,$(SMTPD_SRC))
build/fuzz/fuzz_smtpd build/fuzz/fuzz_data: FUZZ_SRC = $(FUZZ_SMTPD_SRC)
build/fuzz/fuzz_proxy: FUZZ_SRC = smtpd/proxy.c
build/fuzz/fuzz_dsn: FUZZ_SRC = $(FUZZ_SMTPD_SRC) queue/dsn.c
build/fuzz/fuzz_conf: FUZZ_SRC = master/mconf.c
build/fuzz/fuzz_smtpd build/fuzz/fuzz_data: $(FUZZ_SMTPD_SRC) \
		  $(wildcard smtpd/*.h)
build/fuzz/fuzz_dsn: $(FUZZ_SMTPD_SRC) $(wildcard smtpd/*.h) queue/dsn.c \
		  queue/qmgr.h
build/fuzz/fuzz_conf: master/mconf.c master/master.h
build/fuzz/fuzz_proxy: smtpd/proxy.c smtpd/smtpd.h

build/fuzz/%: tests/fuzz/%.c $(COMMON_SRC) $(wildcard common/*.h)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -Ismtpd -Iqueue -Imaster -o $@ $< $(COMMON_SRC) \
	    $(FUZZ_SRC) -lssl -lcrypto -lcrypt -lresolv -ldb -lbsd

fuzz: deps-test $(FUZZERS)
	@for f in $(FUZZERS); do \
		n=$$(basename $$f | sed 's/^fuzz_//'); \
		mkdir -p build/fuzz/corpus/$$n; \
		if $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		    -close_fd_mask=2 -print_final_stats=0 \
		    -artifact_prefix=$(CURDIR)/build/fuzz/$$n- \
		    build/fuzz/corpus/$$n \
		    tests/fuzz/corpus/$$n > build/fuzz/$$n.log 2>&1; then \
			echo "ok - fuzz $$n: $$(grep -Eo '^Done [0-9]+ runs' \
			    build/fuzz/$$n.log)"; \
		else \
			tail -n 40 build/fuzz/$$n.log; \
			echo "not ok - fuzz $$n"; exit 1; \
		fi; \
	done

lint-man:
	mandoc -Tlint -Wwarning man/*.[1-8]

install: all
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR)/posthorn \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(LIBEXECDIR)/
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(TOOLS) $(DESTDIR)$(SBINDIR)/
	ln -sf posthorn-map $(DESTDIR)$(SBINDIR)/newaliases
	ln -sf posthorn-queue $(DESTDIR)$(SBINDIR)/mailq
	@# postdrop: setgid to the maildrop's group (root installs only).
	@if [ "$$(id -u)" -eq 0 ] && getent group posthorn-drop >/dev/null; then \
	    chgrp posthorn-drop $(DESTDIR)$(SBINDIR)/posthorn-postdrop && \
	    chmod 2755 $(DESTDIR)$(SBINDIR)/posthorn-postdrop; \
	else echo "make install: posthorn-postdrop must be setgid posthorn-drop" \
	    "(chgrp posthorn-drop; chmod 2755) for sendmail(1) to work"; fi
	sh master/mkconfig "$(DESTDIR)$(SYSCONFDIR)/posthorn" "$(LIBEXECDIR)" \
	    "$(SPOOLDIR)" "$(SYSCONFDIR)/posthorn" "$(abspath $(BUILD))/bin/posthorn-map"
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	ln -sf posthorn-queue.8 $(DESTDIR)$(MANDIR)/man8/mailq.8
	ln -sf posthorn-map.8 $(DESTDIR)$(MANDIR)/man8/newaliases.8
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|@QUEUE_DIRECTORY@|$(SPOOLDIR)|g' \
	    -e 's|@DAEMON_DIRECTORY@|$(LIBEXECDIR)|g' \
	    -e 's|@CONFIG_DIRECTORY@|$(SYSCONFDIR)/posthorn|g' \
	    -e 's|@SBINDIR@|$(SBINDIR)|g' etc/posthorn.service.in \
	    > $(DESTDIR)$(SYSTEMDUNITDIR)/posthorn.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/posthorn.service

clean:
	rm -rf $(BUILD) build
