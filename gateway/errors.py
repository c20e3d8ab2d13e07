"""The gateway's one exception root; each kind carries its status and Fn's message."""

from __future__ import annotations


class GatewayError(Exception):
    """Root of the gateway's errors. ``status`` and ``message`` are what the client gets."""

    status = 500
    message = "internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        detail: bytes = b"",
        fields: str = "",
    ) -> None:
        self.message = message or type(self).message
        self.headers = headers or {}
        # Which part of the request was wrong, as Fn's error model's ``fields``.
        self.fields = fields
        # What the function said, for the log only: Fn does not pass it on.
        self.detail = detail
        super().__init__(self.message)


class NotFoundError(GatewayError):
    status = 404


class AppNotFoundError(NotFoundError):
    message = "App not found"


class FnNotFoundError(NotFoundError):
    message = "Fn not found"


class TriggerNotFoundError(NotFoundError):
    message = "Trigger not found"


class UnauthenticatedError(GatewayError):
    status = 401
    message = "Unauthorized"


class AccessDeniedError(GatewayError):
    status = 403
    message = "Forbidden"


class RequestTimeoutError(GatewayError):
    """The request's body did not arrive in time (a client too slow, or stalling)."""

    status = 408
    message = "Request body not received in time"


class ClientClosedError(GatewayError):
    """The client went away before its request was read (Fn's 444; nobody reads it)."""

    status = 444
    message = "client closed the request"


class RequestTooLargeError(GatewayError):
    status = 413
    message = "Request content too large"


class FunctionFailedError(GatewayError):
    """The function answered 502: it ran and failed."""

    status = 502
    message = "function failed"


class InvalidResponseError(GatewayError):
    """The function answered something outside the http-stream contract."""

    status = 502
    message = "invalid function response"


class ReceiveError(GatewayError):
    """The function process crashed or dropped the connection mid-call."""

    status = 502
    message = "error receiving function response"


class InitFailedError(GatewayError):
    status = 502
    message = "Container failed to initialize"


class ServerBusyError(GatewayError):
    status = 503
    message = "Timed out - server too busy"


class CallTimeoutError(GatewayError):
    status = 504
    message = "Timed out"


class InitTimeoutError(GatewayError):
    status = 504
    message = "Container initialization timed out"


class ConfigError(GatewayError):
    """app.yaml or a func.yaml that cannot be used; says which file and why."""


class BadRequestError(GatewayError):
    """A request the API cannot accept; the message says what is wrong."""

    status = 400
    message = "Invalid JSON"


class ConflictError(GatewayError):
    status = 409


class PathNotFoundError(NotFoundError):
    message = "Path not found"


class MethodNotAllowedError(GatewayError):
    status = 405
    message = "Method not allowed"


class ImageNotLocalError(GatewayError):
    """The function's image is not one of this repository's functions, so
    there is nothing here to run (the local runtime pulls no images)."""

    status = 502
    message = "the function's image is not a function of this repository"


class CatalogUnavailableError(GatewayError):
    """The catalog file could not be written; nothing changed."""

    status = 503
    message = "the catalog cannot be written right now; nothing was changed, try again"
