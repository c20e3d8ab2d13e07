"""``python -m infra <command>``: the entry points behind scripts/run-all.sh and stop-all.sh."""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import sys
from types import FrameType

from eventio.settings import SettingsError
from infra import alertmanager, control, kafka, postgres, processes
from infra.components import default_plan
from infra.errors import InfraError
from infra.settings import Settings
from infra.supervisor import Supervisor


def setup(settings: Settings) -> int:
    """Install what the embedded services need: PostgreSQL packages, Kafka jars."""
    if settings.embedded_postgres and postgres.find_bindir() is None:
        print("installing PostgreSQL (Debian package postgresql) ...", flush=True)
        postgres.ensure_installed()
    if settings.embedded_alertmanager and alertmanager.find_binary() is None:
        print(f"installing Alertmanager (Debian package {alertmanager.PACKAGE}) ...", flush=True)
        alertmanager.ensure_installed()
    if settings.embedded_kafka:
        kafka.java()
        if not kafka.jars_ready(settings.root):
            where = kafka.libs_dir(settings.root).relative_to(settings.root)
            print(f"fetching Kafka {kafka.KAFKA_VERSION} from Maven Central into {where} ...")
            kafka.ensure_jars(settings.root)
    return 0


def supervise(settings: Settings) -> int:
    """Run the supervisor in the foreground.

    ``up`` starts this detached, after sweeping what a killed predecessor left.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
    )
    run = settings.run
    run.create()
    lock = run.lock_file.open("a")  # held until this process exits
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        logging.warning("another supervisor already runs in %s; exiting", settings.run_dir)
        return control.ALREADY_RUNNING
    logging.info("supervisor %d starting with %r", os.getpid(), settings)
    processes.write_pidfile(run.pidfile(control.SUPERVISOR), os.getpid())
    try:
        try:
            plan = default_plan(settings)
        except InfraError as exc:
            logging.error("cannot plan the run: %s", exc)
            _write_failed_status(settings, str(exc))
            return 1
        supervisor = Supervisor(
            plan,
            run,
            on_ready=lambda: control.write_env_file(settings),
            liveness=settings.liveness,
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            logging.info("received %s; stopping", signal.Signals(signum).name)
            supervisor.request_stop()

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, stop)
        return supervisor.run()
    finally:
        processes.remove_pidfile(run.pidfile(control.SUPERVISOR))


def _write_failed_status(settings: Settings, error: str) -> None:
    status = {"supervisor": {"pid": os.getpid(), "state": "failed", "error": error}}
    settings.run.status_file.write_text(json.dumps({**status, "components": []}) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra",
        description="eventfn's local run: Kafka, PostgreSQL, gateway and bridge, supervised. "
        "Configured by EVENTFN_RUN_DIR, EVENTFN_KAFKA_PORT, EVENTFN_KAFKA_CONTROLLER_PORT, "
        "EVENTFN_PG_PORT, PORT, EVENTFN_BRIDGE_PORT, KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="install PostgreSQL packages and Kafka jars if missing")
    start = commands.add_parser("up", help="start everything in the background, wait for health")
    start.add_argument("--timeout", type=float, default=240.0)
    stop = commands.add_parser("down", help="stop everything up started")
    stop.add_argument("--timeout", type=float, default=150.0)
    commands.add_parser("status", help="show what runs")
    commands.add_parser("supervise", help="run the supervisor in the foreground")
    args = parser.parse_args(argv)
    try:
        settings = control.recognise_own_env(Settings.from_env())
        if args.command == "setup":
            return setup(settings)
        if args.command == "up":
            return control.up(settings, args.timeout)
        if args.command == "down":
            return control.down(settings, args.timeout)
        if args.command == "status":
            return control.show_status(settings)
        return supervise(settings)
    except (InfraError, SettingsError) as exc:
        print(f"eventfn: {exc}", file=sys.stderr)
        return 1
