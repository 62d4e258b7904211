#!/usr/bin/python3
"""A receiver for ferry-store's vulnerability notices, for a CI machine.

It listens for the store's POSTs, checks X-Ferry-Signature (the HMAC-SHA256
of the raw body under the webhook's secret) before anything else, and for
each "open" notice runs a command with the notice on its standard input and
the package name in FERRY_PACKAGE: typically a script that triggers the
package's pipeline (rebuild with `ferry pack`, `ferry push --release ...`).

    receiver.py --secret-file /etc/ferry/hook-secret --listen 127.0.0.1:8088 \
        -- ./rebuild.sh

Put it behind your TLS front end (nginx, Caddy) and give the store the
https:// URL:  ferry webhooks add NAME https://ci.example.com/ferry --secret-file FILE
Answers 204 to a valid notice, 401 to a bad signature, 400 to anything else.
The store retries what is not answered with a 2xx, so a command that fails
is worth answering 500 (the notice comes again later).
"""
import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

MAX_BODY = 4 * 1024 * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--listen", default="127.0.0.1:8088", help="ADDRESS:PORT (port 0: any)")
    ap.add_argument("command", nargs=argparse.REMAINDER,
                    help="-- COMMAND [ARGS...] run for each open notice")
    args = ap.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().rstrip(b"\r\n")
    command = [c for c in args.command if c != "--"] or None

    class Handler(BaseHTTPRequestHandler):
        def reply(self, code):
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n <= 0 or n > MAX_BODY:
                return self.reply(400)
            body = self.rfile.read(n)
            want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            got = self.headers.get("X-Ferry-Signature", "")
            if not hmac.compare_digest(want, got):
                return self.reply(401)
            try:
                notice = json.loads(body)
            except ValueError:
                return self.reply(400)
            if notice.get("type") != "ferry.vulnerability-notice":
                return self.reply(400)
            print(f"{notice['package']}: {notice['state']} notice, "
                  f"{len(notice['findings'])} finding(s)", flush=True)
            if notice["state"] == "open" and command:
                env = dict(os.environ, FERRY_PACKAGE=notice["package"])
                rc = subprocess.run(command, input=body, env=env).returncode
                if rc != 0:
                    return self.reply(500)
            self.reply(204)

        def log_message(self, *a):
            pass

    host, port = args.listen.rsplit(":", 1)
    server = HTTPServer((host, int(port)), Handler)
    print(f"listening on {host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
