"""A stand-in for the gateway or the bridge in infra tests: serves /livez and /readyz.

    python tests/integration/infra/standin.py [--port-env PORT] [--child] [--detached-child]

``--child`` also starts an idle child process in the same process group, the
way the gateway starts fdk processes, so tests can check it is stopped too.
``--detached-child`` starts one in a session of its own, out of reach of
process-group signals: only stop-all's last sweep can find it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path in ("/livez", "/readyz") else 404
        body = b'{"status":"ok"}' if status == 200 else b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # health probes every half second would flood the component log


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-env", default="PORT")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--detached-child", action="store_true")
    args = parser.parse_args()
    port = int(os.environ[args.port_env])
    idle = [sys.executable, "-c", "import signal; signal.pause()"]
    if args.child:
        subprocess.Popen(idle)
    if args.detached_child:
        subprocess.Popen(idle, start_new_session=True)
    server = ThreadingHTTPServer(("127.0.0.1", port), Health)
    print(f"stand-in listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
