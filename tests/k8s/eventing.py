"""Schemas for Knative Eventing's KafkaSource and KafkaSink, written here.

No package this project can install carries them: the @kubernetes-models
packages cover sources.knative.dev's PingSource, ApiServerSource,
ContainerSource and SinkBinding only, and the KafkaSource CRD itself
preserves unknown fields. KafkaSource follows the fields of
sources.knative.dev/v1 KafkaSourceSpec (eventing-kafka-broker kafka_types.go,
with the duck DeliverySpec and Destination); KafkaSink those of the
eventing.knative.dev/v1alpha1 KafkaSink CRD. Every object is closed
(additionalProperties: false), so a misspelt field fails.
"""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]

_TEXT = {"type": "string", "minLength": 1}
_INT32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
# ISO-8601 durations, as delivery's backoffDelay, timeout and retryAfterMax take them
_DURATION = {
    "type": "string",
    "pattern": r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$",
}


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": properties,
    }


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = _closed(
    {"name": _TEXT, "namespace": _TEXT, "labels": _STRING_MAP, "annotations": _STRING_MAP},
    ("name",),
)
_SECRET_VALUE = _closed(
    {"secretKeyRef": _closed({"name": _TEXT, "key": _TEXT}, ("name", "key"))}, ("secretKeyRef",)
)
_DESTINATION = {
    **_closed(
        {
            "ref": _closed(
                {"apiVersion": _TEXT, "kind": _TEXT, "name": _TEXT, "namespace": _TEXT},
                ("apiVersion", "kind", "name"),
            ),
            "uri": _TEXT,
        }
    ),
    "anyOf": [{"required": ["ref"]}, {"required": ["uri"]}],
}
_DELIVERY = _closed(
    {
        "retry": _INT32,
        "backoffPolicy": {"enum": ["linear", "exponential"]},
        "backoffDelay": _DURATION,
        "timeout": _DURATION,
        "retryAfterMax": _DURATION,
        "deadLetterSink": _DESTINATION,
        "format": {"enum": ["json", "binary"]},
    }
)
_NET = _closed(
    {
        "sasl": _closed(
            {
                "enable": {"type": "boolean"},
                "user": _SECRET_VALUE,
                "password": _SECRET_VALUE,
                "type": _SECRET_VALUE,
            }
        ),
        "tls": _closed(
            {
                "enable": {"type": "boolean"},
                "cert": _SECRET_VALUE,
                "key": _SECRET_VALUE,
                "caCert": _SECRET_VALUE,
            }
        ),
    }
)
_SERVERS = {"type": "array", "minItems": 1, "items": _TEXT}

KAFKA_SOURCE = _closed(
    {
        "apiVersion": {"const": "sources.knative.dev/v1"},
        "kind": {"const": "KafkaSource"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "bootstrapServers": _SERVERS,
                "net": _NET,
                "topics": {"type": "array", "minItems": 1, "items": _TEXT},
                "consumerGroup": _TEXT,
                "consumers": {**_INT32, "minimum": 1},
                "initialOffset": {"enum": ["earliest", "latest"]},
                "ordering": {"enum": ["ordered", "unordered"]},
                "delivery": _DELIVERY,
                "sink": _DESTINATION,
                "ceOverrides": _closed({"extensions": _STRING_MAP}),
            },
            ("bootstrapServers", "topics", "sink"),
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)

KAFKA_SINK = _closed(
    {
        "apiVersion": {"const": "eventing.knative.dev/v1alpha1"},
        "kind": {"const": "KafkaSink"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "topic": _TEXT,
                "bootstrapServers": _SERVERS,
                "numPartitions": _INT32,
                "replicationFactor": _INT32,
                "contentMode": {"enum": ["binary", "structured"]},
                "auth": _closed({"secret": _closed({"ref": _closed({"name": _TEXT}, ("name",))})}),
            },
            ("topic", "bootstrapServers"),
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)

SCHEMAS = {
    ("sources.knative.dev/v1", "KafkaSource"): KAFKA_SOURCE,
    ("eventing.knative.dev/v1alpha1", "KafkaSink"): KAFKA_SINK,
}


def problems(obj: dict[str, Any]) -> list[str]:
    """Everything the schema of the object's kind finds wrong, empty when nothing."""
    schema = SCHEMAS[(obj["apiVersion"], obj["kind"])]
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{obj['kind']} {obj['metadata'].get('name')}: /"
        + "/".join(str(p) for p in error.absolute_path)
        + f": {error.message}"
        for error in validator.iter_errors(obj)
    ]
