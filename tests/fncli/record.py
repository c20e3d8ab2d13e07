"""Record what the real fn CLI sends and gets, into ``tests/fncli/recorded/``.

    EVENTFN_FN_CLI=/path/to/fn .venv/bin/python -m tests.fncli.record

Starts Kafka and a fresh gateway (``tests.fncli.gateway``), puts a recording
proxy in front of the gateway, runs each command of ``STEPS`` with the CLI
pointed at the proxy (``FN_API_URL``), and writes one file per command. The
proxy passes ``Host`` through, so the endpoints the gateway announces are the
proxy's and the CLI's invokes are recorded too. A step whose exit code is not
the expected one stops the recording: the files are only written when the CLI
did what the README says it does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from infra.components import kafka_plan
from infra.control import recognise_own_env
from infra.ports import free_ports
from infra.settings import Settings
from infra.supervisor import Supervisor
from tests.fncli.exchanges import HOP_HEADERS, RECORDED, Exchange, Message, Step, placeholder
from tests.fncli.gateway import contract_gateway
from tests.support import ROOT

EVENT = '{"type":"TEMP","value":"ALERT:90"}'

# (file name, fn arguments, stdin, expected exit code): the README's commands,
# then the errors a user meets first. Replayed in this order.
STEPS: tuple[tuple[str, tuple[str, ...], str, int], ...] = (
    ("01-list-apps", ("list", "apps"), "", 0),
    ("02-list-functions", ("list", "functions", "eventfn"), "", 0),
    ("03-list-triggers", ("list", "triggers", "eventfn"), "", 0),
    ("04-inspect-function", ("inspect", "function", "eventfn", "publish"), "", 0),
    ("05-invoke", ("invoke", "eventfn", "publish"), EVENT, 0),
    (
        "06-invoke-content-type",
        ("invoke", "eventfn", "publish", "--content-type", "application/json"),
        EVENT,
        0,
    ),
    ("07-create-app", ("create", "app", "cli-app"), "", 0),
    ("08-create-app-duplicate", ("create", "app", "cli-app"), "", 1),
    (
        "09-create-function",
        ("create", "function", "cli-app", "echo", "eventfn/publish:0.1.0"),
        "",
        0,
    ),
    (
        "10-update-function",
        ("update", "function", "cli-app", "echo", "eventfn/publish:0.1.1", "--memory", "256"),
        "",
        0,
    ),
    ("11-config-function", ("config", "function", "cli-app", "echo", "LEVEL", "debug"), "", 0),
    ("12-inspect-created-function", ("inspect", "function", "cli-app", "echo"), "", 0),
    ("13-delete-function", ("delete", "function", "cli-app", "echo"), "", 0),
    ("14-delete-app", ("delete", "app", "cli-app"), "", 0),
    ("15-unknown-app", ("list", "functions", "no-such-app"), "", 1),
    ("16-unknown-function", ("inspect", "function", "eventfn", "no-such-fn"), "", 1),
    ("17-invoke-unknown-function", ("invoke", "eventfn", "no-such-fn"), EVENT, 1),
)


class Recorder(ThreadingHTTPServer):
    """A reverse proxy to ``upstream`` that keeps every exchange."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = httpx.Client(base_url=upstream, timeout=60)
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def take(self) -> list[Exchange]:
        with self.lock:
            taken, self.exchanges = self.exchanges, []
        return taken


class _Forward(BaseHTTPRequestHandler):
    server: Recorder
    protocol_version = "HTTP/1.1"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        body = self._body()
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        answer = self.server.upstream.request(
            self.command,
            self.path,
            content=body,
            headers={**headers, "host": self.headers.get("Host", "")},
        )
        kept = {k.lower(): v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
        base = self.server.url
        recorded = Exchange(
            self.command,
            self.path,
            Message(headers, placeholder(body.decode(), base).encode()),
            answer.status_code,
            Message(
                {k: placeholder(v, base) for k, v in kept.items()},
                placeholder(answer.text, base).encode(),
            ),
        )
        with self.server.lock:
            self.server.exchanges.append(recorded)
        self.send_response(answer.status_code)
        for name, value in kept.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def kafka(work_dir: Path) -> Iterator[str]:
    """A broker for publish's invokes, as the test session starts one."""
    broker, controller = free_ports(2)
    settings = replace(
        recognise_own_env(Settings.from_env()),
        run_dir=work_dir,
        kafka_port=broker,
        kafka_controller_port=controller,
    )
    supervisor = Supervisor(kafka_plan(settings), settings.run, write_status=False)
    supervisor.start_in_background(240)
    try:
        yield settings.bootstrap_servers
    finally:
        supervisor.stop()


def run_cli(cli: Path, home: Path, api_url: str, args: tuple[str, ...], stdin: str):
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "FN_API_URL": api_url}
    return subprocess.run(
        [str(cli), *args], input=stdin, env=env, capture_output=True, text=True, timeout=60
    )


def record(cli: Path, out: Path, kafka_bootstrap: str | None = None) -> list[Path]:
    """Run ``STEPS`` with ``cli`` and write them to ``out`` (emptied first); with no
    ``kafka_bootstrap``, a broker of its own."""
    with (
        tempfile.TemporaryDirectory(prefix="fncli-record-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        work = Path(scratch)
        bootstrap = kafka_bootstrap or stack.enter_context(kafka(work / "kafka"))
        gateway = stack.enter_context(contract_gateway(work, bootstrap))
        recorder = Recorder(gateway)
        threading.Thread(target=recorder.serve_forever, daemon=True).start()
        try:
            steps = [run_step(cli, work / "home", recorder, *step) for step in STEPS]
        finally:
            recorder.shutdown()
            recorder.server_close()
            recorder.upstream.close()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return [step.write(out) for step in steps]


def run_step(
    cli: Path,
    home: Path,
    recorder: Recorder,
    name: str,
    args: tuple[str, ...],
    stdin: str,
    expected: int,
) -> Step:
    home.mkdir(exist_ok=True)
    done = run_cli(cli, home, recorder.url, args, stdin)
    if done.returncode != expected:
        raise SystemExit(
            f"fn {' '.join(args)} exited {done.returncode}, not {expected}:\n"
            f"{done.stdout}{done.stderr}"
        )
    return Step(
        name,
        args,
        stdin,
        done.returncode,
        placeholder(done.stdout, recorder.url),
        placeholder(done.stderr, recorder.url),
        tuple(recorder.take()),
    )


def main() -> None:
    cli = os.environ.get("EVENTFN_FN_CLI")
    if not cli:
        raise SystemExit("set EVENTFN_FN_CLI to the fn binary (0.6.63) to record with")
    for path in record(Path(cli), RECORDED):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
