"""The bridge's small HTTP side: /livez, /readyz and /metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def serve(
    host: str,
    port: int,
    ready: Callable[[], bool],
    registry: CollectorRegistry,
    live: Callable[[], bool] = lambda: True,
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; ``shutdown()`` the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/livez":
                is_live = live()
                body = orjson.dumps({"status": "ok" if is_live else "stalled"})
                self._send(200 if is_live else 503, "application/json", body)
            elif self.path == "/readyz":
                is_ready = ready()
                body = orjson.dumps({"status": "ready" if is_ready else "starting"})
                self._send(200 if is_ready else 503, "application/json", body)
            elif self.path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            else:
                self._send(404, "application/json", orjson.dumps({"message": "Not Found"}))

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # health probes every few seconds would drown the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="bridge-health", daemon=True).start()
    return server
