"""The core's one exception root and its kinds."""

from __future__ import annotations

from dataclasses import dataclass


class EventError(Exception):
    """Root of every error the core raises."""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field of the input, e.g. ``[3].type``."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}" if self.field else self.problem


class InvalidEventError(EventError):
    """The input is not an acceptable event; says which field and why."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__(str(problems[0]) if problems else "invalid event")


class UnsupportedMediaTypeError(EventError):
    """The request's content type is not one the publish function reads."""

    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        super().__init__(
            f"content type {content_type!r} is not supported; send application/json, "
            "application/cloudevents+json, application/cloudevents-batch+json "
            "or a binary-mode CloudEvent (ce-* headers)"
        )


class PayloadTooLargeError(EventError):
    """The request body is over the limit."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"body of {size} bytes is over the limit of {limit} bytes")


class RuleError(EventError):
    """An alert rule file that cannot be used; says which rule and why."""
