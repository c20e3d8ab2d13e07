"""The OCI Functions API's view of the catalog (API versions 20181201 and 20260325): camelCase
JSON, OCI's paging and sorting, and OCI's error codes. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eventcore.cloudevent import format_time
from gateway.catalog.models import AppRecord, FnRecord
from gateway.errors import BadRequestError

# The API version the OCI docs name, and the one current SDKs (oci 2.189) call.
API_VERSIONS = ("20181201", "20260325")
DEFAULT_SHAPE = "GENERIC_X86"
ACTIVE = "ACTIVE"
MAX_LIMIT = 1000
SORT_FIELDS = ("timeCreated", "displayName")
SORT_ORDERS = ("ASC", "DESC")

# OCI's error codes for the statuses this API answers with.
ERROR_CODES = {
    400: "InvalidParameter",
    401: "NotAuthenticated",
    404: "NotAuthorizedOrNotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    444: "ClientClosedRequest",
    502: "FunctionInvokeExecutionFailed",
    503: "ServiceUnavailable",
    504: "FunctionInvokeTimeout",
}

_R = TypeVar("_R", AppRecord, FnRecord)
_DIGITS = re.compile(r"[0-9]{1,10}")


def error_json(status: int, message: str) -> dict[str, str]:
    return {"code": ERROR_CODES.get(status, "InternalServerError"), "message": message}


def application_json(app: AppRecord, compartment_id: str) -> dict[str, Any]:
    return {
        "id": app.id,
        "compartmentId": compartment_id,
        "displayName": app.name,
        "lifecycleState": ACTIVE,
        "config": dict(app.config),
        "subnetIds": [],
        "networkSecurityGroupIds": [],
        "shape": app.shape or DEFAULT_SHAPE,
        "syslogUrl": app.syslog_url,
        "traceConfig": {"isEnabled": False},
        "freeformTags": {},
        "definedTags": {},
        "timeCreated": format_time(app.created_at),
        "timeUpdated": format_time(app.updated_at),
    }


def function_json(
    fn: FnRecord, compartment_id: str, invoke_endpoint: str, *, summary: bool = False
) -> dict[str, Any]:
    """A Function; ``invokeEndpoint`` is the base URL the invoke client appends
    ``/20181201/functions/{id}/actions/invoke`` to (this gateway)."""
    document: dict[str, Any] = {
        "id": fn.id,
        "displayName": fn.name,
        "lifecycleState": ACTIVE,
        "applicationId": fn.app_id,
        "compartmentId": compartment_id,
        "image": fn.image,
        "shape": fn.shape or DEFAULT_SHAPE,
        "memoryInMBs": fn.memory,
        "timeoutInSeconds": fn.timeout,
        "invokeEndpoint": invoke_endpoint,
        "traceConfig": {"isEnabled": False},
        "freeformTags": {},
        "definedTags": {},
        "timeCreated": format_time(fn.created_at),
        "timeUpdated": format_time(fn.updated_at),
    }
    if not summary:
        document["config"] = dict(fn.config)
    return document


@dataclass(frozen=True)
class Listing:
    """OCI's list parameters: filters, ``sortBy``/``sortOrder``, ``limit`` and the
    opaque ``page`` token (here, the offset) that ``opc-next-page`` hands back."""

    display_name: str = ""
    id: str = ""
    lifecycle_state: str = ""
    sort_by: str = "timeCreated"
    sort_order: str = ""
    limit: int = MAX_LIMIT
    offset: int = 0

    @classmethod
    def from_query(cls, query: Callable[[str], str | None]) -> Listing:
        """The list parameters: one left out takes its default; one given, even
        empty, must be valid as the API defines it (enums case included)."""
        sort_by = query("sortBy")
        if sort_by is None:
            sort_by = "timeCreated"
        elif sort_by not in SORT_FIELDS:
            raise BadRequestError(f"sortBy must be one of {', '.join(SORT_FIELDS)}")
        sort_order = query("sortOrder")
        if sort_order is not None and sort_order not in SORT_ORDERS:
            raise BadRequestError("sortOrder must be ASC or DESC")
        return cls(
            display_name=query("displayName") or "",
            id=query("id") or "",
            lifecycle_state=query("lifecycleState") or "",
            sort_by=sort_by,
            sort_order=sort_order or "",
            limit=_number(query("limit"), "limit", 1, MAX_LIMIT, MAX_LIMIT),
            offset=_number(query("page"), "page", 0, 2**31, 0),
        )

    def select(self, records: Sequence[_R]) -> tuple[list[_R], str]:
        """This page of matching records and the next page's token ("" at the end)."""
        chosen = [
            r
            for r in records
            if (not self.display_name or r.name == self.display_name)
            and (not self.id or r.id == self.id)
            and (not self.lifecycle_state or self.lifecycle_state == ACTIVE)
        ]
        # OCI's defaults: newest first by time, A to Z by name.
        if self.sort_by == "displayName":
            chosen.sort(key=lambda r: (r.name, r.id), reverse=self.sort_order == "DESC")
        else:
            chosen.sort(key=lambda r: (r.created_at, r.id), reverse=self.sort_order != "ASC")
        end = self.offset + self.limit
        return chosen[self.offset : end], str(end) if end < len(chosen) else ""


def _number(raw: str | None, name: str, low: int, high: int, default: int) -> int:
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadRequestError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)
