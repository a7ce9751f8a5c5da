#!/usr/bin/python3
"""A mail filter for the tests, on the real libmilter (Debian's pymilter).

Usage: milter_test.py PORT LOG

Listens on 127.0.0.1:PORT and writes one JSON line per callback to LOG.
What it does depends on the message:
  MAIL FROM:<reject@...>        550 5.7.1 at MAIL
  RCPT TO:<user+refused@...>    550 5.7.1 for that recipient
  X-Test: reject                554 5.7.1 at the end of the message
  X-Test: header-reject         550 5.7.1 at that header (read as it comes)
  X-Test: tempfail              TEMPFAIL at the end
  X-Test: multiline             a two-line 550 at the end
  X-Test: inject                a header value that would add a line
  X-Test: discard               DISCARD at the end
  X-Test: quarantine            quarantined at the end
  X-Test: change                headers added and changed, sender and
                                recipients changed, body replaced
  X-Test: sleep                 no answer at the end for 30 s
"""
import json
import sys
import time

import Milter

PORT, LOG = int(sys.argv[1]), sys.argv[2]


def log(**kw):
    with open(LOG, "a") as f:
        f.write(json.dumps(kw) + "\n")


class TestMilter(Milter.Base):
    def __init__(self):
        self.test = None
        self.content = b""

    def connect(self, hostname, family, hostaddr):
        log(ev="connect", hostname=hostname, addr=hostaddr[0],
            daemon=self.getsymval("{daemon_name}"),
            j=self.getsymval("j"))
        return Milter.CONTINUE

    def hello(self, helo):
        log(ev="helo", helo=helo)
        return Milter.CONTINUE

    def envfrom(self, f, *params):
        self.test = None
        self.content = b""
        log(ev="mail", sender=f, params=list(params),
            queue_id=self.getsymval("i"))
        if f.startswith("<reject@"):
            self.setreply("550", "5.7.1", "sender refused by the test filter")
            return Milter.REJECT
        return Milter.CONTINUE

    def envrcpt(self, to, *params):
        log(ev="rcpt", rcpt=to)
        if "+refused@" in to:
            self.setreply("550", "5.7.1", "recipient refused by the test filter")
            return Milter.REJECT
        return Milter.CONTINUE

    def header(self, name, value):
        log(ev="header", name=name, value=value)
        if name.lower() == "x-test":
            self.test = value.strip()
            if self.test == "header-reject":
                self.setreply("550", "5.7.1", "header refused by the test filter")
                return Milter.REJECT
        return Milter.CONTINUE

    def eoh(self):
        log(ev="eoh")
        return Milter.CONTINUE

    def body(self, chunk):
        self.content += chunk
        return Milter.CONTINUE

    def eom(self):
        log(ev="eom", body=self.content.decode("latin-1"), test=self.test,
            queue_id=self.getsymval("i"))
        t = self.test
        if t == "reject":
            self.setreply("554", "5.7.1", "content refused by the test filter")
            return Milter.REJECT
        if t == "tempfail":
            return Milter.TEMPFAIL
        if t == "multiline":
            self.setreply("550", "5.7.1", "first line", "second line")
            return Milter.REJECT
        if t == "inject":
            self.addheader("X-Bad", "x\r\nInjected: yes")
        if t == "discard":
            return Milter.DISCARD
        if t == "quarantine":
            self.quarantine("held by the test filter")
        if t == "sleep":
            time.sleep(30)
        if t == "change":
            self.addheader("X-Filtered", "yes")
            self.addheader("X-First", "top", 0)
            self.chgheader("Subject", 1, "changed by the filter")
            self.chgheader("X-Test", 1, "")
            self.chgfrom("<changed@example.org>")
            self.addrcpt("<bob@localhost>")
            self.delrcpt("<alice@localhost>")
            self.replacebody(b"a new body\r\nfrom the filter\r\n")
        return Milter.CONTINUE

    def abort(self):
        log(ev="abort")
        return Milter.CONTINUE

    def close(self):
        log(ev="close")
        return Milter.CONTINUE


Milter.factory = TestMilter
Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY |
                 Milter.ADDRCPT | Milter.DELRCPT | Milter.CHGFROM |
                 Milter.QUARANTINE)
print("ready", flush=True)
Milter.runmilter("posthorn-test", "inet:%d@127.0.0.1" % PORT, 240)
