"""The gateway's HTTP server: uvicorn with httptools, plus a header timeout.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) but not
a request whose headers never finish: a client sending one byte a second
keeps its connection, and its slot, for as long as it likes. Here each
request's headers must be whole within ``header_timeout_s`` of the
connection opening or of the request's first byte, as Go's
``ReadHeaderTimeout`` and nginx's ``client_header_timeout`` have it;
otherwise the client gets a JSON 408 and the connection is closed. A client
that connects and sends nothing is cut off the same way.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.settings import GatewaySettings

log = logging.getLogger("eventfn.gateway")


def _timeout_response(header_timeout_s: float) -> bytes:
    body = orjson.dumps({"message": f"Request headers not received within {header_timeout_s:g}s"})
    return (
        b"HTTP/1.1 408 Request Timeout\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


def protocol(header_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, whose requests' headers have a deadline."""
    refusal = _timeout_response(header_timeout_s)

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout_s, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            # A response still being written (a pipelined request behind it
            # trickles) cannot be followed by ours: the connection just closes.
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(refusal)
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def config(app: object, settings: GatewaySettings) -> uvicorn.Config:
    """How the gateway serves ``app``: one place for every connection limit."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=protocol(settings.header_timeout_s),
        lifespan="on",
        access_log=False,
        # An idle keep-alive connection is closed after this long.
        timeout_keep_alive=settings.keep_alive_s,
        # Beyond this many connections (or calls in flight), a request gets
        # 503 rather than queueing without bound.
        limit_concurrency=settings.max_connections,
        # SIGTERM: stop accepting, let calls in flight finish, then stop instances.
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
