"""``python -m bridge``: feed each target function from the events topic."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from types import FrameType

from bridge import health
from bridge.metrics import BridgeMetrics
from bridge.settings import TARGETS, BridgeSettings
from bridge.worker import Worker
from eventio.producer import EventProducer
from eventio.settings import SettingsError

log = logging.getLogger("eventfn.bridge")


class Bridge:
    """Worker threads for each target function (``consumers`` of them, in its
    group), a shared dead-letter producer, a health port."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self.metrics = BridgeMetrics()
        self.dead_letters = EventProducer(
            settings.bootstrap_servers, "eventfn-bridge-dlq", timeout_s=10.0
        )
        self.workers = [
            Worker(name, url, settings, self.dead_letters, self.metrics, self.stop, index)
            for name, url in settings.targets.items()
            for index in range(max(1, settings.consumers))
        ]
        # Daemon threads: a worker still waiting on a POST when the grace period
        # ends must not keep the process alive; what it held is uncommitted,
        # and redelivered to the next owner.
        self._threads = [
            threading.Thread(target=w.run, name=f"bridge-{w.function}-{w.index}", daemon=True)
            for w in self.workers
        ]

    @property
    def live(self) -> bool:
        """Every worker has been round its loop lately: within two requests'
        timeouts and a margin, the longest a round can rightly take."""
        stalled_after = 2 * self.settings.request_timeout_s + 30.0
        now = time.monotonic()
        return all(now - worker.beat < stalled_after for worker in self.workers)

    @property
    def ready(self) -> bool:
        return all(w.ready.is_set() for w in self.workers) and all(
            t.is_alive() for t in self._threads
        )

    def run(self) -> int:
        """Run until stopped; on stop, finish or hand back what is held. The exit code."""
        server = health.serve(
            self.settings.host,
            self.settings.port,
            lambda: self.ready,
            self.metrics.registry,
            lambda: self.live,
        )
        for name, url in self.settings.targets.items():
            log.info(
                "feeding %s (group %s%s, %d consumers) from %s",
                url,
                self.settings.group_prefix,
                name,
                max(1, self.settings.consumers),
                self.settings.events_topic,
            )
        for thread in self._threads:
            thread.start()
        self.stop.wait()
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if late := [t.name for t in self._threads if t.is_alive()]:
            log.warning("%s still busy after %.0fs: leaving", late, self.settings.shutdown_grace_s)
        self.dead_letters.close()
        server.shutdown()
        return 1 if any(worker.failed for worker in self.workers) else 0


DESCRIPTION = f"""\
Feed functions from the events topic: one Kafka consumer group per function
(<EVENTFN_BRIDGE_GROUP_PREFIX><name>), each POSTing batches of events as
application/cloudevents-batch+json to the function's URL, retrying what
fails, dead-lettering what never succeeds, and committing only what is done.
Health and metrics on EVENTFN_BRIDGE_HOST:EVENTFN_BRIDGE_PORT (/livez,
/readyz, /metrics). Settings come from the environment; the functions from
{TARGETS}=name=URL,... (written by scripts/run-all.sh and the Kubernetes
manifests), e.g. persist=http://127.0.0.1:8080/invoke/<function id>.
Other variables: KAFKA_BOOTSTRAP_SERVERS, EVENTFN_EVENTS_TOPIC,
EVENTFN_DLQ_TOPIC and the EVENTFN_BRIDGE_* of the README's Configuration."""


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(
        prog="python -m bridge",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = BridgeSettings.from_env()
    except SettingsError as error:
        sys.exit(f"eventfn bridge: {error}")
    if not settings.targets:
        sys.exit(
            f"eventfn bridge: {TARGETS} is not set: name the functions to feed, as name=URL,..."
        )
    bridge = Bridge(settings)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        bridge.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(bridge.run())


if __name__ == "__main__":
    main()
