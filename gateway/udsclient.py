"""HTTP/1.1 over a Unix socket: the gateway's side of Fn's http-stream contract.

One persistent connection per function instance, one request at a time, as
the contract allows. Parsing is httptools' (the C parser the fdk itself uses).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httptools


class ConnectionLostError(Exception):
    """The connection closed or broke before a whole response arrived."""


class ProtocolViolationError(Exception):
    """The peer answered something that is not HTTP/1.1."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool = True


@dataclass
class _Collector:
    """httptools callbacks, gathering one response."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class UnixHTTPConnection:
    """A keep-alive HTTP/1.1 connection to one Unix socket."""

    def __init__(self, path: str, read_size: int = 256 * 1024) -> None:
        self._path = path
        self._read_size = read_size
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_unix_connection(self._path)

    async def request(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> Response:
        """Send one request and read its whole response."""
        if not self.connected:
            await self.connect()
        assert self._reader is not None
        assert self._writer is not None
        head = [f"{method} {target} HTTP/1.1", "Host: localhost", f"Content-Length: {len(body)}"]
        head.extend(f"{name}: {value}" for name, value in headers)
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        try:
            await self._writer.drain()
            return await self._read_response(self._reader)
        except (ConnectionError, OSError) as error:
            self.close()
            raise ConnectionLostError(str(error) or type(error).__name__) from None
        except (ConnectionLostError, ProtocolViolationError):
            self.close()
            raise

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def _read_response(self, reader: asyncio.StreamReader) -> Response:
        collector = _Collector()
        parser = httptools.HttpResponseParser(collector)
        while not collector.complete:
            data = await reader.read(self._read_size)
            if not data:
                raise ConnectionLostError("connection closed before the response was complete")
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as error:
                raise ProtocolViolationError(str(error)) from None
        response = Response(
            status=parser.get_status_code(),
            headers=collector.headers,
            body=b"".join(collector.chunks),
            keep_alive=parser.should_keep_alive(),
        )
        if not response.keep_alive:
            self.close()
        return response
