# A tiny webhook receiver for trying krog by hand: prints each delivery, answers 200.
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        print(self.path, self.headers.get("webhook-id"), self.headers.get("webhook-signature")[:20], body[:300].decode(), flush=True)
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
http.server.HTTPServer(("127.0.0.1", 9000), H).serve_forever()
