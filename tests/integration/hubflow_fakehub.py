"""A hostile hub for test_hub_flow.py: TLS with a key and certificate the
test chose (so jitsud can pin it), answering each route from a script.

It accepts any enrollment, then answers the endpoint's request routes with
whatever the test scripted: wrong ids, wrong statuses, garbage, huge
bodies. It records every HTTP request it parsed, so a test can also show
that nothing was sent to a hub that failed the pin.
"""
import http.server
import json
import ssl
import threading


class FakeHub:
    """routes: {(method, path without query): (status, body bytes or object)},
    or (function, None): the function gets the request handler and answers
    (or does not) as it likes."""

    def __init__(self, cert, key, routes):
        self.routes = dict(routes)
        self.routes.setdefault(("POST", "/api/v1/enroll"), (201, {
            "endpoint_id": "0123456789abcdef", "credential": "ab" * 32}))
        self.seen = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(min(n, 1 << 20))
                path = self.path.split("?", 1)[0]
                hub.seen.append((self.command, path))
                status, body = hub.routes.get((self.command, path), (404, {
                    "error": {"code": "not_found", "message": "no such route"}}))
                if callable(status):  # the test answers itself (slowly, cut short...)
                    status(self)
                    return
                if not isinstance(body, bytes):
                    body = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # failed handshakes are expected
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
