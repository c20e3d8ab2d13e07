"""The embedded Apache Kafka broker: jars from Maven Central, KRaft config, format, health."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import shutil
import subprocess
import uuid
from functools import cache
from pathlib import Path

from confluent_kafka.admin import AdminClient

from infra.errors import SetupError, StartupError
from infra.rundir import tail
from infra.settings import JavaSettings, Settings
from infra.supervisor import Component

KAFKA_VERSION = "4.3.1"  # keep in step with infra/pom.xml
INFRA = Path(__file__).resolve().parent
POM = INFRA / "pom.xml"
LOG4J2_CONFIG = INFRA / "kafka-log4j2.properties"
HEAP = "-Xmx512m"


# --- jars -----------------------------------------------------------------------


def kafka_home(root: Path) -> Path:
    """The cache folder for this Kafka version: ``<root>/.cache/kafka-<version>``."""
    return root / ".cache" / f"kafka-{KAFKA_VERSION}"


def libs_dir(root: Path) -> Path:
    return kafka_home(root) / "libs"


def classpath(root: Path) -> str:
    """The broker's and tools' classpath (a Java wildcard, expanded by the JVM)."""
    return f"{libs_dir(root)}/*"


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_ready(root: Path) -> bool:
    """True when the libs folder is complete for the current pom."""
    stamp = kafka_home(root) / "complete"
    return stamp.is_file() and stamp.read_text().strip() == _pom_digest()


def ensure_jars(root: Path) -> Path:
    """Resolve the broker's jars with Maven into the cache, once; return the libs folder.

    Concurrent callers (run-all and a test session) serialise on a lock file,
    and the copy lands in a temporary folder renamed into place, so a crash
    mid-download never leaves a folder that looks complete.
    """
    home = kafka_home(root)
    home.mkdir(parents=True, exist_ok=True)
    with (home / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if jars_ready(root):
            return libs_dir(root)
        if shutil.which("mvn") is None:
            raise SetupError("Maven (mvn) is needed to fetch Kafka: apt-get install -y maven")
        staging = home / "libs.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        log_path = home / "mvn.log"
        with log_path.open("wb") as out:
            result = subprocess.run(
                [
                    "mvn",
                    "-B",
                    "-q",
                    "-Dstyle.color=never",
                    "-f",
                    str(POM),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={staging}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            raise SetupError(
                f"mvn could not resolve Kafka {KAFKA_VERSION} (exit {result.returncode}); "
                f"{log_path}:\n{tail(log_path, 30)}"
            )
        shutil.rmtree(libs_dir(root), ignore_errors=True)
        staging.rename(libs_dir(root))
        (home / "complete").write_text(_pom_digest() + "\n")
        return libs_dir(root)


# --- configuration and storage ----------------------------------------------------


def server_properties(settings: Settings) -> str:
    """The single-node KRaft broker+controller configuration for this run."""
    port, controller = settings.kafka_port, settings.kafka_controller_port
    data = settings.run.kafka / "data"
    return "\n".join(
        [
            "# written by infra/kafka.py on every start; edit the code, not this file",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=6",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            # fewer than the default 50 so the first consumer group is ready sooner
            "offsets.topic.num.partitions=6",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "",
        ]
    )


def new_cluster_id() -> str:
    """A random cluster id in Kafka's format (URL-safe base64 of 16 bytes, no padding)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka never hands out ids starting with '-': they read as CLI options
        if not text.startswith("-"):
            return text


@cache
def java() -> str:
    """``$JAVA_HOME/bin/java`` when there is one, else the ``java`` on PATH."""
    home = JavaSettings.from_env().java_home
    if home and (home / "bin" / "java").is_file():
        return str(home / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise SetupError("Java 17+ is needed for Kafka: apt-get install -y openjdk-17-jre-headless")
    return found


def java_command(root: Path, main: str, *args: str) -> tuple[str, ...]:
    """``java ... -cp <libs>/* main args``: the broker, the storage tool or any Kafka tool.

    For example ``java_command(root, "org.apache.kafka.tools.ProducerPerformance",
    "--topic", "events", ...)`` runs Kafka's producer benchmark from the same jars.
    """
    return (
        java(),
        HEAP,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
        "-cp",
        classpath(root),
        main,
        *args,
    )


def prepare(settings: Settings) -> None:
    """Write server.properties and format the storage the first time; safe to repeat."""
    if not jars_ready(settings.root):
        ensure_jars(settings.root)
    folder = settings.run.kafka
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "server.properties"
    config.write_text(server_properties(settings))
    if (folder / "data" / "meta.properties").is_file():
        return
    id_file = folder / "cluster.id"
    if not id_file.is_file():
        id_file.write_text(new_cluster_id() + "\n")
    cluster_id = id_file.read_text().strip()
    argv = java_command(
        settings.root, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)
    )
    with settings.run.log("kafka").open("ab") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise StartupError(
            f"formatting Kafka storage failed (exit {result.returncode}); "
            f"see {settings.run.log('kafka')}"
        )


# --- health ----------------------------------------------------------------------------


def broker_ready(bootstrap: str, timeout: float = 1.5) -> bool:
    """True when the broker answers a metadata request with at least one broker."""
    # log_level 0: connection-refused noise while the broker boots is expected
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    metadata = admin.list_topics(timeout=timeout)
    return bool(metadata.brokers)


def component(settings: Settings) -> Component:
    """The supervised broker."""
    return Component(
        name="kafka",
        argv=java_command(
            settings.root, "kafka.Kafka", str(settings.run.kafka / "server.properties")
        ),
        health=lambda: broker_ready(settings.bootstrap_servers),
        cwd=settings.run.kafka,
        prepare=lambda: prepare(settings),
        stop_timeout=30.0,
        describe=f"Apache Kafka {KAFKA_VERSION} (KRaft) on {settings.bootstrap_servers}",
    )
