#!/usr/bin/env python3
"""An HTTPS server for the MTA-STS tests: Python's http.server with ssl.

Usage: httpsd.py PORT ROOT CERT KEY LOG
Serves ROOT/<Host header>/<path> (so that one server stands for
mta-sts.a.test and mta-sts.b.test) on 127.0.0.1:PORT over TLS with CERT
(the chain) and KEY; every request is appended to LOG as
"host path status".  Prints "ready" when it listens.
"""
import http.server
import os
import ssl
import sys

port, root, cert, key, log = int(sys.argv[1]), *sys.argv[2:6]


class Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        if not host or "/" in host or host.startswith("."):
            host = "-"
        self.directory = os.path.join(root, host)
        return super().translate_path(path)

    def log_request(self, code="-", size="-"):
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.headers.get("Host"), self.path,
                                    code))

    def log_message(self, *args):
        pass


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print("ready", flush=True)
httpd.serve_forever()
