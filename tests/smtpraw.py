#!/usr/bin/env python3
"""Raw SMTP for tests: send exactly the bytes given, print every reply.

Usage: smtpraw.py HOST PORT < script

Script lines (a trailing newline is NOT sent; write \\r\\n yourself):
  send <python-escaped bytes>   e.g.  send EHLO x\\r\\n
  expect <code>                 read one full reply; fail unless it has this code
  read                          read one full reply (any code)
  sleep <seconds>
  close                         close the connection
  drain                         read until the server closes (prints all)
Every reply line read is printed as received (CR stripped).
Exit status 1 if an expect failed or the connection dropped unexpectedly.
"""
import socket
import sys
import time


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
    host, port = sys.argv[1], int(sys.argv[2])
    s = socket.create_connection((host, port), timeout=15)
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
