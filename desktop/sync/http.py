"""HTTP plumbing every server kind shares: one TLS context, timeouts, the client factory,
transport failures as typed errors, Retry-After, bounded readable text and safe JSON.

A dialect's client builds its requests and maps its own status answers; everything that does
not depend on what the server speaks lives here once.
"""

from __future__ import annotations

import email.utils
import io
import json
import logging
import math
import os
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from desktop.sync import errors as err

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=60.0, pool=5.0)


@cache
def shared_tls_context() -> ssl.SSLContext:
    """One TLS context for every server client of the process.

    Making an ``httpx.Client`` loads and parses the CA bundle (~25 ms of CPU here, holding the
    GIL), and every sync run makes a client. The context carries no per-connection state, so
    one built on first use serves them all; it is what httpx would build (certifi's bundle, or
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set).
    """
    return httpx.create_ssl_context()


def new_http_client(
    base_url: str,
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """A client that never follows redirects on its own (a token must not travel with one)."""
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": "CaseDesk"},
        verify=shared_tls_context(),
    )


def log_answer(log: logging.Logger, method: str, route: str, status: int, started: float) -> None:
    """Method, route template, status and time only: never ids, names, URLs or tokens."""
    level = logging.INFO if status >= 400 else logging.DEBUG
    log.log(level, "%s %s -> %d (%.0f ms)", method, route, status,
            (time.monotonic() - started) * 1000)


def safe_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def clean_text(text: str, limit: int) -> str:
    """Server text made fit to show: printable, one line, at most ``limit`` characters."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: a number, or an HTTP date; None when absent/garbage."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = datetime.now(UTC).timestamp() if now is None else now
        return max(0.0, when.timestamp() - current)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def path_segment(value: str) -> str:
    """An opaque id as one path segment ("/" or "?" in an id must not change the route)."""
    return quote(str(value), safe="")


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, f"{(parts.hostname or '').lower()}:{port}"


def _sentence(server: str) -> str:
    return server[:1].upper() + server[1:]


def unreadable_answer(creates: bool, server: str = "the server") -> str:
    who = _sentence(server)
    if creates:
        return (f"{who}'s answer was cut off or unreadable; it may have saved this. "
                "Case Desk checks the server before sending it again.")
    return (f"{who}'s answer was cut off or unreadable, so nothing was applied here. "
            "It will be tried again.")


def transport_error(
    exc: httpx.HTTPError,
    *,
    route: str,
    repeatable: bool,
    creates: bool,
    server: str = "the server",
) -> err.SyncError:
    """What a failure below HTTP means for the change that was being sent.

    ``repeatable``: the request changes nothing on the server (a read), so sending it again is
    safe whatever happened. Otherwise a timeout or a broken connection after connecting is an
    unknown outcome: the request may have been received.
    """
    who = _sentence(server)
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return err.OfflineError(route=route)
    if isinstance(exc, httpx.PoolTimeout):
        return err.NetworkError(
            "Too many requests were waiting for a connection; nothing was sent. It will be "
            "tried again.", route=route)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return err.SyncError(
            f"{who}'s address is not a valid web address; check it in the sign-in "
            "settings.", route=route)
    if isinstance(exc, httpx.DecodingError):
        return err.ProtocolError(unreadable_answer(creates, server), route=route,
                                 outcome_unknown=creates)
    if isinstance(exc, httpx.TooManyRedirects):
        return err.ProtocolError(f"{who} redirected too many times; check the server "
                                 "address.", route=route, retryable=False)
    timed_out = isinstance(exc, httpx.TimeoutException)
    if repeatable:
        return err.NetworkError(
            f"{who} took too long to answer; it will be tried again." if timed_out
            else None, route=route)
    lead = (f"{who} took too long to answer" if timed_out
            else f"The connection to {server} broke before it answered")
    return err.OutcomeUnknownError(
        f"{lead}; this change may or may not have been saved. Case Desk checks the server "
        "before sending it again.", route=route)


# ------------------------------------------------------------------ streaming a file out

Progress = Callable[[int, int], None]
"""progress(bytes_done, bytes_total): called as bytes go out (uploads) or come in (downloads);
``bytes_total`` is 0 when a download's size is unknown."""

READ_CHUNK = 1024 * 1024


class SentCounter:
    """Adds up bytes read from several files of one request and reports the running total."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress

    def add(self, count: int) -> None:
        self.done += count
        if self.progress is not None and count:
            self.progress(self.done, self.total)


class ProgressFile(io.RawIOBase):
    """A read-only file that reports each chunk httpx pulls from it.

    httpx's multipart encoder reads file objects 64 KiB at a time, so wrapping (rather than
    reading) keeps memory flat; ``fileno`` lets httpx compute Content-Length without reading,
    and ``seek(0)`` (done by httpx before each send) rewinds the count for a retry.
    """

    def __init__(self, path: Path, counter: SentCounter) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed by the request that owns it
        self._counter = counter
        self._sent = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._file.fileno()

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._file.seek(offset, whence)
        if whence == os.SEEK_SET and offset == 0 and self._sent:
            self._counter.add(-self._sent)
            self._sent = 0
        return position

    def read(self, size: int = -1) -> bytes:
        # httpx asks for 64 KiB at a time; 1 MiB pieces halve the sender's CPU per byte.
        chunk = self._file.read(size if size < 0 else max(size, READ_CHUNK))
        self._sent += len(chunk)
        self._counter.add(len(chunk))
        return chunk

    def readinto(self, buffer: Any) -> int:  # pragma: no cover - httpx uses read()
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def local_file_missing() -> err.SyncError:
    return err.SyncError(
        "A file to send is missing or unreadable on this computer; nothing was sent. "
        "Attach it again."
    )


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        raise local_file_missing() from None


def open_progress_file(path: Path, counter: SentCounter) -> ProgressFile:
    try:
        return ProgressFile(path, counter)
    except OSError:
        raise local_file_missing() from None
