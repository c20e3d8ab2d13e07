"""One hot function instance: a real fdk process behind a Unix socket.

Start-up follows Fn's agent: the process gets ``FN_LISTENER=unix:<dir>/lsnr.sock``
and ``FN_FORMAT=http-stream``; it is ready when ``lsnr.sock`` appears as a
relative symlink, within the same directory, to a listening socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gateway import udsclient
from gateway.errors import (
    CallTimeoutError,
    FunctionFailedError,
    InitFailedError,
    InitTimeoutError,
    InvalidResponseError,
    ReceiveError,
)
from gateway.registry import Function

SOCKET_NAME = "lsnr.sock"
# A sun_path holds 108 bytes; a deep run directory falls back to a short temp dir.
_MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class CallResult:
    """A successful call: the function's headers and body (status 200)."""

    headers: list[tuple[str, str]]
    body: bytes
    duration_s: float


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # If the gateway is killed outright, its instances go too rather than
    # lingering with their sockets.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Instance:
    """One fdk process and the connection to it."""

    def __init__(self, fn: Function, number: int, socket_root: Path) -> None:
        self.fn = fn
        self.number = number
        self.name = f"{fn.name}-{number}"
        directory = socket_root / self.name
        if len(str(directory / ("phony" + SOCKET_NAME))) > _MAX_SOCKET_PATH:
            directory = Path(tempfile.mkdtemp(prefix=f"efn-{self.name}-"))
        self.directory = directory
        self.socket_path = directory / SOCKET_NAME
        self.process: asyncio.subprocess.Process | None = None
        self.last_used = time.monotonic()
        self._connection = udsclient.UnixHTTPConnection(str(self.socket_path))

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(
        self, fdk: Path, base_env: Mapping[str, str], log: IO[bytes], timeout_s: float
    ) -> None:
        """Spawn the process and wait until its socket is ready."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {
            **base_env,
            "FN_FORMAT": "http-stream",
            "FN_LISTENER": f"unix:{self.socket_path}",
            "FN_MEMORY": str(self.fn.memory),
            "FN_TYPE": "sync",
            "FN_FN_ID": self.fn.id,
            "FN_APP_ID": self.fn.app_id,
            "FN_FN_NAME": self.fn.name,
            "FN_APP_NAME": self.fn.app_name,
        }
        try:
            self.process = await asyncio.create_subprocess_exec(
                str(fdk),
                str(self.fn.entry_file),
                self.fn.entry_point,
                cwd=self.fn.directory,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent,
            )
        except OSError as error:
            raise InitFailedError(f"Container failed to initialize, {error}") from None
        await self._wait_ready(timeout_s)

    async def call(
        self, headers: list[tuple[str, str]], body: bytes, timeout_s: float
    ) -> CallResult:
        """POST /call; maps the answer to Fn's outcomes. Raises a GatewayError otherwise.

        The instance is unusable after any error but FunctionFailedError: the
        caller stops it.
        """
        began = time.monotonic()
        try:
            response = await asyncio.wait_for(
                self._connection.request("POST", "/call", headers, body), timeout_s
            )
        except TimeoutError:
            raise CallTimeoutError() from None
        except udsclient.ProtocolViolationError:
            raise InvalidResponseError() from None
        except udsclient.ConnectionLostError:
            raise ReceiveError() from None
        finally:
            self.last_used = time.monotonic()
        if response.status == 200:
            return CallResult(response.headers, response.body, time.monotonic() - began)
        if response.status == 502:
            raise FunctionFailedError(detail=response.body)
        if response.status == 504:
            raise CallTimeoutError()
        raise InvalidResponseError()

    async def stop(self, grace_s: float) -> None:
        """SIGTERM, then SIGKILL after the grace period."""
        self._connection.close()
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    async def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        assert self.process is not None
        while True:
            if self.process.returncode is not None:
                raise InitFailedError(
                    f"Container failed to initialize, exit code {self.process.returncode}; "
                    f"see logs/{self.fn.log_name}"
                )
            if self._socket_ready():
                try:
                    await self._connection.connect()
                except OSError as error:
                    raise InitFailedError(f"Container failed to initialize, {error}") from None
                return
            if time.monotonic() >= deadline:
                await self.stop(0.5)
                raise InitTimeoutError(
                    f"Container initialization timed out after {timeout_s:g}s, "
                    f"please ensure you are using the latest fdk"
                )
            await asyncio.sleep(0.005)

    def _socket_ready(self) -> bool:
        # As Fn's agent checks: a symlink must point, relatively, into the same
        # directory, and what it reaches must be a socket.
        if not os.path.lexists(self.socket_path):
            return False
        if self.socket_path.is_symlink():
            target = os.readlink(self.socket_path)
            if os.path.isabs(target) or os.path.dirname(target) not in ("", "."):
                return False
        try:
            return stat.S_ISSOCK(os.stat(self.socket_path).st_mode)
        except FileNotFoundError:
            return False
