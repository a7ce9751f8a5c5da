#!/usr/bin/env python3
"""A scripted SMTP or LMTP server for the relay tests.

Usage: smtpsink.py [options] LOG
  --port N            listen on 127.0.0.1:N (TCP)
  --addr A            listen on A instead of 127.0.0.1
  --unix PATH         listen on a UNIX socket (LMTP over a socket)
  --lmtp              speak LMTP (LHLO, one reply per recipient after DATA)
  --size N            advertise SIZE N
  --no-pipelining     do not advertise PIPELINING
  --no-dsn            do not advertise DSN
  --rcpt ADDR=REPLY   answer RCPT TO:<ADDR> with REPLY (e.g. "550 5.1.1 no")
  --once ADDR=REPLY   the same, only the first time ADDR is seen
  --data ADDR=REPLY   LMTP: the reply after DATA for ADDR
  --greeting REPLY    the greeting (default "220 sink ESMTP")
  --slow SECONDS      wait this long before answering the end of DATA
  --drop-after N      close a connection without a word once it carried
                      N transactions (a server that drops idle sessions)
Sessions open at once, at most, are kept in LOG.max; open now in LOG.now

Every transaction is appended to LOG as one JSON line:
  {"helo": ..., "mail": ..., "rcpt": [accepted...], "data": "...",
   "raw": "... as sent, dot-stuffed", "conn": N (the connection's
   number, from 1), "rset": RSETs seen on it before}
"""
import argparse
import json
import os
import socket
import socketserver
import sys
import threading
import time

lock = threading.Lock()
seen = set()
active = [0, 0]	# now, most
conns = [0]


def parse_map(items):
    out = {}
    for it in items or []:
        addr, _, reply = it.partition("=")
        out[addr.lower()] = reply
    return out


class Handler(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write((text + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        a = self.server.args
        with lock:
            active[0] += 1
            if active[0] > active[1]:
                active[1] = active[0]
                with open(a.log + ".max", "w") as f:
                    f.write("%d\n" % active[1])
            with open(a.log + ".now", "w") as f:
                f.write("%d\n" % active[0])
        try:
            self.session()
        finally:
            with lock:
                active[0] -= 1
                with open(a.log + ".now", "w") as f:
                    f.write("%d\n" % active[0])

    def session(self):
        a = self.server.args
        with lock:
            conns[0] += 1
            conn = conns[0]
        self.reply(a.greeting)
        tx = {"helo": None, "mail": None, "rcpt": [], "data": None,
              "conn": conn, "rset": 0}
        ntx = 0
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if a.drop_after and ntx >= a.drop_after:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "LHLO", "HELO"):
                if a.lmtp != (verb == "LHLO") and verb != "HELO":
                    self.reply("500 5.5.1 wrong greeting verb")
                    continue
                tx["helo"] = cmd
                if verb == "HELO":
                    self.reply("250 sink")
                    continue
                ext = ["sink", "8BITMIME", "ENHANCEDSTATUSCODES"]
                if not a.no_dsn:
                    ext.append("DSN")
                if not a.no_pipelining:
                    ext.append("PIPELINING")
                if a.size:
                    ext.append("SIZE %d" % a.size)
                for i, e in enumerate(ext):
                    self.reply(("250 " if i == len(ext) - 1 else "250-") + e)
            elif verb == "MAIL":
                tx["mail"] = cmd[5:]	# "FROM:<...> params"
                tx["rcpt"] = []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = cmd[3 + cmd.upper().index("TO:"):].split(">")[0].lstrip("<").lower()
                r = self.server.rcpt.get(addr)
                with lock:
                    if r is None and addr in self.server.once and addr not in seen:
                        seen.add(addr)
                        r = self.server.once[addr]
                if r:
                    self.reply(r)
                else:
                    tx["rcpt"].append(cmd[8:])
                    self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not tx["rcpt"]:
                    self.reply("554 5.5.1 no valid recipients")
                    continue
                self.reply("354 go ahead")
                raw = []
                while True:
                    l = self.rfile.readline()
                    if not l or l == b".\r\n":
                        break
                    raw.append(l.decode("utf-8", "replace"))
                tx["raw"] = "".join(raw)	# as sent: dot-stuffed
                tx["data"] = "".join(l[1:] if l.startswith(".") else l
                                     for l in raw)
                if a.slow:
                    time.sleep(a.slow)
                with lock, open(a.log, "a") as f:
                    f.write(json.dumps(tx) + "\n")
                ntx += 1
                if a.lmtp:
                    for r in tx["rcpt"]:
                        addr = r.split(">")[0].lstrip("<").lower()
                        self.reply(self.server.data.get(addr, "250 2.0.0 delivered"))
                else:
                    self.reply("250 2.0.0 queued")
            elif verb == "RSET":
                tx["rcpt"] = []
                tx["rset"] += 1
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            else:
                self.reply("502 5.5.1 not here")


class TCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class UNIX(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int)
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--unix")
    p.add_argument("--lmtp", action="store_true")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--no-pipelining", action="store_true")
    p.add_argument("--no-dsn", action="store_true")
    p.add_argument("--rcpt", action="append")
    p.add_argument("--once", action="append")
    p.add_argument("--data", action="append")
    p.add_argument("--greeting", default="220 sink ESMTP")
    p.add_argument("--slow", type=float, default=0)
    p.add_argument("--drop-after", type=int, default=0)
    p.add_argument("log")
    a = p.parse_args()
    if a.unix:
        if os.path.exists(a.unix):
            os.unlink(a.unix)
        srv = UNIX(a.unix, Handler)
        os.chmod(a.unix, 0o777)
    else:
        srv = TCP((a.addr, a.port), Handler)
    srv.args = a
    srv.rcpt = parse_map(a.rcpt)
    srv.once = parse_map(a.once)
    srv.data = parse_map(a.data)
    open(a.log, "a").close()
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
