#!/usr/bin/env python3
"""Raw SMTP for tests: send exactly the bytes given, print every reply.

Usage: smtpraw.py [--tls] HOST PORT < script
  --tls    implicit TLS (SMTPS) from the first byte

Script lines (a trailing newline is NOT sent; write \\r\\n yourself):
  send <python-escaped bytes>   e.g.  send EHLO x\\r\\n
  expect <code>                 read one full reply; fail unless it has this code
  read                          read one full reply (any code)
  sleep <seconds>
  close                         close the connection
  drain                         read until the server closes (prints all)
  starttls [servername]         start TLS now (after the 220 to STARTTLS);
                                prints "(tls TLSv1.3 CN=...)" with the
                                version and the certificate's subject
  auth USER PASS                AUTH PLAIN with an initial response
Every reply line read is printed as received (CR stripped).
Exit status 1 if an expect failed or the connection dropped unexpectedly.
"""
import base64
import socket
import ssl
import sys
import time


def wrap(s, servername=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s, server_hostname=servername)
    der = t.getpeercert(binary_form=True)
    subject = ""
    try:
        import subprocess
        out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                              "-subject", "-nameopt", "RFC2253"], input=der,
                             capture_output=True).stdout.decode()
        subject = out.strip().replace("subject=", "")
    except OSError:
        pass
    print(f"(tls {t.version()} {subject})", flush=True)
    return t


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return lines, False
        line = line.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        print(line, flush=True)
        if len(line) < 4 or line[3] != "-":
            return lines, True


def main():
    args = sys.argv[1:]
    tls = args and args[0] == "--tls"
    if tls:
        args = args[1:]
    host, port = args[0], int(args[1])
    s = socket.create_connection((host, port), timeout=15)
    if tls:
        s = wrap(s)
    f = s.makefile("rb")
    ok = True
    for raw in sys.stdin.read().splitlines():
        if not raw.strip():
            continue
        cmd, _, arg = raw.partition(" ")
        if cmd == "send":
            s.sendall(arg.encode("latin-1").decode("unicode_escape").encode("latin-1"))
        elif cmd == "sendfile":
            with open(arg, "rb") as fh:
                s.sendall(fh.read())
        elif cmd in ("expect", "read"):
            lines, alive = read_reply(f)
            if not lines:
                print("(connection closed)", flush=True)
                return 1
            if cmd == "expect" and not lines[-1].startswith(arg):
                print(f"(expected {arg})", flush=True)
                ok = False
        elif cmd == "starttls":
            s = wrap(s, arg or None)
            f = s.makefile("rb")
        elif cmd == "auth":
            user, _, pw = arg.partition(" ")
            tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())
            s.sendall(b"AUTH PLAIN " + tok + b"\r\n")
            lines, alive = read_reply(f)
            if not lines or not lines[-1].startswith("235"):
                print("(expected 235)", flush=True)
                ok = False
        elif cmd == "sleep":
            time.sleep(float(arg))
        elif cmd == "close":
            s.close()
            return 0 if ok else 1
        elif cmd == "drain":
            while True:
                lines, alive = read_reply(f)
                if not alive:
                    break
            print("(connection closed)", flush=True)
        else:
            print(f"bad script line: {raw}", file=sys.stderr)
            return 2
    s.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
