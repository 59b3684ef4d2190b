# A tiny webhook receiver for trying krog by hand: prints each delivery, answers 200.
# Usage: python3 scripts/receiver.py [PORT]   (default 9000)
import http.server
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        signature = self.headers.get("webhook-signature") or ""
        print(self.path, self.headers.get("webhook-id"), signature[:20], body[:300].decode(errors="replace"), flush=True)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass  # the line above says it all


print(f"receiver: listening on http://127.0.0.1:{port}", flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
