"""Strimzi KafkaTopics for eventfn's topics (``infra/topics.py``)."""

from __future__ import annotations

from typing import Any

# The Strimzi Kafka resource in k8s/base/kafka.yaml; its bootstrap Service is
# <cluster>-kafka-bootstrap.
CLUSTER = "eventfn"


def kafka_topic(
    name: str, partitions: int, replicas: int, cluster: str = CLUSTER
) -> dict[str, Any]:
    """The topic as the Topic Operator creates it; overlays raise ``replicas``."""
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {
            # Resource names are DNS labels; the topic keeps its own name.
            "name": name.replace(".", "-"),
            "labels": {"strimzi.io/cluster": cluster},
        },
        "spec": {"topicName": name, "partitions": partitions, "replicas": replicas},
    }
