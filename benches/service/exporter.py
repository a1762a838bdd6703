"""Serves N gauges request_latency_seconds{series="s0000000"…} on 127.0.0.1:9464, each scrape
new values ~ N(1, 0.1): the endpoint of the service measurement (measure.sh)."""
import random, sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
N = int(sys.argv[1])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        lines = ["# TYPE request_latency_seconds gauge"]
        g = random.gauss
        lines += ["request_latency_seconds{series=\"s%07d\"} %.4f" % (i, abs(g(1.0, 0.1))) for i in range(N)]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", 9464), H).serve_forever()
