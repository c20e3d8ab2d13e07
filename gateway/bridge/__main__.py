"""``python -m gateway.bridge``: feed each target function from the events topic."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from types import FrameType

from eventio.producer import EventProducer
from gateway.bridge import health
from gateway.bridge.metrics import BridgeMetrics
from gateway.bridge.settings import BridgeSettings
from gateway.bridge.worker import Worker

log = logging.getLogger("eventfn.bridge")


class Bridge:
    """One worker thread per target function, a shared dead-letter producer, a health port."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self.metrics = BridgeMetrics()
        self.dead_letters = EventProducer(
            settings.bootstrap_servers, "eventfn-bridge-dlq", timeout_s=10.0
        )
        self.workers = [
            Worker(name, url, settings, self.dead_letters, self.metrics, self.stop)
            for name, url in settings.targets.items()
        ]
        # Daemon threads: a worker still waiting on a POST when the grace period
        # ends must not keep the process alive; what it held is uncommitted,
        # and redelivered to the next owner.
        self._threads = [
            threading.Thread(target=w.run, name=f"bridge-{w.function}", daemon=True)
            for w in self.workers
        ]

    @property
    def ready(self) -> bool:
        return all(w.ready.is_set() for w in self.workers) and all(
            t.is_alive() for t in self._threads
        )

    def run(self) -> int:
        """Run until stopped; on stop, finish or hand back what is held. The exit code."""
        server = health.serve(
            self.settings.host, self.settings.port, lambda: self.ready, self.metrics.registry
        )
        for worker in self.workers:
            log.info("feeding %s (group %s) from %s", worker.url, worker.group, self.settings.topic)
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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    bridge = Bridge(BridgeSettings.from_env())

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        bridge.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(bridge.run())


if __name__ == "__main__":
    main()
