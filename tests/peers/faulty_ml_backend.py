"""A faulty ML backend for the tests: healthy, set up, but its /predict misbehaves in the way
MODE says — `hang` (never answers), `error` (500), or `garbage` (results that are not
predictions: a label the project lacks, a number, and too few results).

Usage: faulty_ml_backend.py PORT MODE
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODE = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, {"status": "UP"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        if self.path == "/setup":
            return self.reply(200, {"model_version": "faulty-" + MODE})
        if self.path != "/predict":
            return self.reply(201, {})
        if MODE == "hang":
            time.sleep(3600)
        if MODE == "error":
            return self.reply(500, b"model crashed: CUDA out of memory")
        tasks = body.get("tasks", [])
        if len(tasks) > 1 and tasks[0]["id"] % 2 == 0:
            return self.reply(200, {"results": []})  # too few results: the whole page fails
        garbage = [
            {"result": [{"type": "choices", "value": {"choices": ["banana"]}}], "score": 0.5},
            42,
            {"result": "not regions", "score": "high"},
        ]
        return self.reply(200, {"results": [garbage[i % 3] for i in range(len(tasks))]})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
