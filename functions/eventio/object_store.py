"""An S3-compatible bucket through boto3: AWS S3, OCI Object Storage's Amazon
S3 Compatibility API, MinIO (and moto's server in the tests).

Credentials and ``AWS_ENDPOINT_URL`` are boto3's own; the region, an
endpoint that wins over it and the addressing style come from
:class:`~eventio.settings.ArchiveSettings`. Each PUT is one request with the
whole object, so an object is all there or not at all. With conditional
writes, a PUT that creates says ``If-None-Match: *`` and one that replaces
says ``If-Match: <etag>``, so two writers of one object cannot lose each
other's events: the second gets :class:`WriteConflictError` and merges again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from eventio.errors import DependencyError
from eventio.settings import ArchiveSettings

_MISSING = {"NoSuchKey", "404", "NotFound"}
# 412 when the condition failed; 409 when S3 saw two conditional writes at once.
_CONFLICTS = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class ObjectStoreError(DependencyError):
    """The bucket could not do what was asked; names the bucket and key."""


class WriteConflictError(ObjectStoreError):
    """The object changed (or appeared) since it was read."""


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str


class ObjectStore:
    """One bucket; one client per process, reused across calls (boto3's are thread-safe)."""

    def __init__(self, settings: ArchiveSettings) -> None:
        if not settings.archive_bucket:
            raise ObjectStoreError("no bucket: set EVENTFN_ARCHIVE_BUCKET")
        self.bucket = settings.archive_bucket
        self.conditional = settings.archive_conditional_writes
        self._client = boto3.session.Session().client(
            "s3",
            region_name=settings.archive_region,
            # None: boto3's AWS_ENDPOINT_URL, else AWS itself
            endpoint_url=settings.archive_endpoint_url or None,
            config=Config(
                s3={"addressing_style": settings.archive_addressing},
                connect_timeout=settings.archive_timeout_s,
                read_timeout=settings.archive_timeout_s,
                retries={"mode": "standard", "max_attempts": 3},
                # OCI's S3 Compatibility API and older MinIO take no CRC32 trailers
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    @property
    def where(self) -> str:
        return f"s3://{self.bucket} at {self._client.meta.endpoint_url}"

    def get(self, key: str) -> StoredObject | None:
        """The object, or None when there is none."""
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
            return StoredObject(answer["Body"].read(), answer["ETag"])
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise self._error("reading", key, error) from None
        except BotoCoreError as error:
            raise self._error("reading", key, error) from None

    def put(
        self,
        key: str,
        body: bytes,
        *,
        replacing: str | None,
        content_type: str,
        content_encoding: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Write the whole object; ``replacing`` is the ETag it had when read
        (None: it did not exist). WriteConflictError when that no longer holds."""
        extra: dict[str, Any] = {}
        if self.conditional:
            extra = {"IfMatch": replacing} if replacing else {"IfNoneMatch": "*"}
        if content_encoding:
            extra["ContentEncoding"] = content_encoding
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=dict(metadata or {}),
                **extra,
            )
        except ClientError as error:
            if _code(error) in _CONFLICTS:
                raise WriteConflictError(f"{self.where}: {key} changed since it was read") from None
            raise self._error("writing", key, error) from None
        except BotoCoreError as error:
            raise self._error("writing", key, error) from None

    def folders(self, prefix: str) -> list[str]:
        """The ``/``-ended prefixes right under ``prefix``."""
        pages = self._pages(prefix, "/")
        return [item["Prefix"] for page in pages for item in page.get("CommonPrefixes", [])]

    def keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Every key under ``prefix`` with its size, in key order."""
        for page in self._pages(prefix, None):
            for item in page.get("Contents", []):
                yield item["Key"], item["Size"]

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        options = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            options["Delimiter"] = delimiter
        try:
            yield from self._client.get_paginator("list_objects_v2").paginate(**options)
        except (ClientError, BotoCoreError) as error:
            raise self._error("listing", prefix or "/", error) from None

    def _error(self, doing: str, key: str, error: Exception) -> ObjectStoreError:
        return ObjectStoreError(f"{self.where}: {doing} {key}: {error}")


def _code(error: ClientError) -> str:
    found = error.response.get("Error", {}).get("Code")
    if found:
        return str(found)
    return str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
