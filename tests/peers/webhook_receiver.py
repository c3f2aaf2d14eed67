"""A webhook receiver for the tests: verifies every request with the Standard Webhooks
reference package (standardwebhooks), answers 500 to the first FAIL_FIRST verified requests
and 200 after, and appends one JSON line per request to OUT.

Usage: webhook_receiver.py SECRET OUT FAIL_FIRST [PORT]
Prints the port it listens on (127.0.0.1; any free one without PORT) as its first line.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

SECRET, OUT, FAIL_FIRST = sys.argv[1], sys.argv[2], int(sys.argv[3])
PORT = int(sys.argv[4]) if len(sys.argv) > 4 else 0
verifier = Webhook(SECRET)
lock = threading.Lock()
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            verifier.verify(body, headers)
            verified, error = True, None
        except Exception as e:  # the reason goes to the test's log line
            verified, error = False, repr(e)
        with lock:
            if verified:
                seen += 1
            status = 401 if not verified else (500 if seen <= FAIL_FIRST else 200)
            line = {
                "webhook_id": headers.get("webhook-id"),
                "verified": verified,
                "error": error,
                "status": status,
                "body": json.loads(body) if verified else None,
            }
            with open(OUT, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "try again"}')

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
