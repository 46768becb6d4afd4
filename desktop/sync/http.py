"""HTTP plumbing every server kind shares: one TLS context, timeouts, the client factory,
transport failures as typed errors, Retry-After, bounded readable text and safe JSON.

A dialect's client builds its requests and maps its own status answers; everything that does
not depend on what the server speaks lives here once.

Nothing a server sends is unbounded (a hostile or broken server must not exhaust memory, disk
or time): every answer is read through :func:`iter_bounded` (whole by :func:`send_bounded`,
piece by piece by a download), which undoes gzip/deflate itself in bounded pieces and stops
at a byte cap *after* decompression, before anything is parsed; and every request runs under
an overall :func:`deadline` that is checked at every socket read and write (a server dripping
one byte a second defeats a read timeout, never the deadline), with a floor on the rate of an
answer's body so that such a server is given up on in seconds.
"""

from __future__ import annotations

import email.utils
import io
import logging
import math
import os
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpcore
import httpx

from desktop.blob_seal import BlobDamaged
from desktop.errors import CaseDeskError
from desktop.intake import StoredBytes
from desktop.sync import errors as err
from desktop.sync.json_answer import decode_json

# What an upload reads from: a stored document (decrypted and checked on the way), or a plain
# file (tests, tools).
Sendable = Path | StoredBytes

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
    """A client that never follows redirects on its own (a token must not travel with one),
    asks only for encodings :class:`BoundedDecoder` can bound, and whose every socket read and
    write is held to the running request's deadline (:func:`deadline`)."""
    client = httpx.Client(
        base_url=base_url,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": "CaseDesk",
                 "Accept-Encoding": "gzip, deflate"},
        verify=shared_tls_context(),
    )
    _hold_to_deadlines(client)
    return client


def log_answer(log: logging.Logger, method: str, route: str, status: int, started: float) -> None:
    """Method, route template, status and time only: never ids, names, URLs or tokens."""
    level = logging.INFO if status >= 400 else logging.DEBUG
    log.log(level, "%s %s -> %d (%.0f ms)", method, route, status,
            (time.monotonic() - started) * 1000)


def safe_json(response: httpx.Response | Answer) -> Any:
    """The answer's JSON (over-deep values set aside, see json_answer), or None."""
    try:
        return decode_json(response.content)
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
    if isinstance(exc, (DeadlineExceeded, TooSlow)):
        # Asking again at once would wait as long again: the next run tries.
        if repeatable:
            return err.NetworkError(
                f"{who} took longer than Case Desk waits for one answer; it will be tried "
                "again later.", route=route, again_in_run=False)
        return err.OutcomeUnknownError(
            f"{who} took longer than Case Desk waits for one answer; this change may or may "
            "not have been saved. Case Desk checks the server before sending it again.",
            route=route, again_in_run=False)
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

    def __init__(self, path: Sendable, counter: SentCounter) -> None:
        super().__init__()
        self._file = open_sendable(path)
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


def open_sendable(path: Sendable) -> Any:
    """The bytes to send, read in pieces (a stored document: decrypted, each piece checked;
    a piece that fails stops the request before it completes)."""
    if isinstance(path, StoredBytes):
        return path.open()
    return open(path, "rb")  # noqa: SIM115 - closed by the request that owns it


def size_of(path: Sendable) -> int:
    """The size of what will be sent. A stored document is read whole first and every piece
    checked: one that was altered or cut short is never sent (refused, with the reason)."""
    try:
        if isinstance(path, StoredBytes):
            return path.store.verify(path.sha256)
        return path.stat().st_size
    except BlobDamaged as exc:
        raise err.RejectedError(str(exc)) from None
    except (OSError, CaseDeskError):
        raise local_file_missing() from None


def declared_size(path: Sendable) -> int:
    """The size of what will be sent, for progress (a stored document: from its sealed
    length, read without decrypting it all; the send itself checks every piece)."""
    try:
        if isinstance(path, StoredBytes):
            return path.size()
        return path.stat().st_size
    except BlobDamaged as exc:
        raise err.RejectedError(str(exc)) from None
    except (OSError, CaseDeskError):
        raise local_file_missing() from None


def open_progress_file(path: Sendable, counter: SentCounter) -> ProgressFile:
    try:
        return ProgressFile(path, counter)
    except BlobDamaged as exc:
        raise err.RejectedError(str(exc)) from None
    except (OSError, CaseDeskError):
        raise local_file_missing() from None


# ------------------------------------------------------------------ bounded answers

MIB = 1 << 20
# The case list of a big clinic: 100,000 cases at up to ~1 KiB each as the server lists them
# (measured: 300 bytes a case with a short note, bench/hostile.py; a 700-letter note makes it
# ~1 KiB), and a margin.
LIST_LIMIT = 128 * MIB
# Any other JSON answer: one case with its file list and AI insights (a few KiB to ~1 MiB).
ANSWER_LIMIT = 8 * MIB
# An error answer is only read for its short explanation.
ERROR_LIMIT = 64 * 1024
# A download stops at its declared size plus this, and never goes past DOWNLOAD_LIMIT.
DOWNLOAD_MARGIN = 64 * 1024
DOWNLOAD_LIMIT = 1 << 30  # as intake's largest file
# Overall time for one request, whatever the server sends meanwhile.
REQUEST_DEADLINE = 120.0
LIST_DEADLINE = 300.0
# Transfers also get this much time per byte (a slow clinic line: 256 KiB/s).
SECONDS_PER_BYTE = 1 / (256 * 1024)
# An answer's headers must be complete this soon after a request without a body to send.
HEADERS_WITHIN = 60.0
# After this long, an answer's body must average at least MIN_RATE bytes a second: a server
# dripping a byte a second is given up on in seconds, not at the deadline.
RATE_GRACE = 15.0
MIN_RATE = 4 * 1024
DECODE_PIECE = 256 * 1024

# Tests and support may lower (never raise) a cap through the environment.
_LOWER_ONLY = {
    "list": "CASEDESK_MAX_LIST_BYTES",
    "answer": "CASEDESK_MAX_ANSWER_BYTES",
    "download": "CASEDESK_MAX_DOWNLOAD_BYTES",
    "deadline": "CASEDESK_REQUEST_DEADLINE",
    "grace": "CASEDESK_SLOW_ANSWER_GRACE",
}


def limit(name: str, default: float) -> float:
    """``default``, or the environment's lower value for it (a higher one is ignored)."""
    raw = os.environ.get(_LOWER_ONLY[name], "")
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if 0 < value < default else default


def transfer_deadline(size: int | None, base: float = REQUEST_DEADLINE) -> float:
    """Time allowed for a request that moves ``size`` bytes (unknown: the largest download)."""
    size = DOWNLOAD_LIMIT if size is None else max(0, size)
    return limit("deadline", base + size * SECONDS_PER_BYTE)


_current = threading.local()


class DeadlineExceeded(httpx.TimeoutException):
    """The request's overall deadline passed (whatever the server was still sending)."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket operation of this thread inside the block ends by ``seconds`` from now;
    a timeout once that time has come is :class:`DeadlineExceeded`."""
    previous = getattr(_current, "at", None)
    at = time.monotonic() + limit("deadline", seconds)
    if previous is not None:
        at = min(at, previous)  # an inner deadline never extends the outer one
    _current.at = at
    try:
        yield
    except httpx.TimeoutException as exc:
        if isinstance(exc, DeadlineExceeded) or time.monotonic() < at - 0.05:
            raise
        raise DeadlineExceeded("the request's deadline passed") from exc
    finally:
        _current.at = previous


def _time_left(timeout: float | None, kind: type[Exception]) -> float | None:
    at = getattr(_current, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise kind("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits at most until the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(
            ssl_context, server_hostname, _time_left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _time_left(timeout, httpcore.ConnectTimeout), local_address,
            socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(
            path, _time_left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _hold_to_deadlines(client: httpx.Client) -> None:
    """Put every connection pool of ``client`` (direct and through proxies) on deadline
    sockets. httpx offers no hook for this, so the pool's backend is wrapped in place; a
    transport without one (a test's in-memory transport) has no sockets to hold."""
    transports = [getattr(client, "_transport", None),
                  *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]


class BoundedDecoder:
    """Undoes gzip/deflate in pieces of at most :data:`DECODE_PIECE` bytes, so a small
    compressed body cannot expand in one step (httpx's own decoder inflates a whole network
    read at once: 64 KiB of gzip can become 64 MiB)."""

    def __init__(self, encoding: str | None) -> None:
        encoding = (encoding or "identity").strip().lower()
        self._raw_deflate = False
        if encoding in ("identity", ""):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
            self._raw_deflate = True  # retried as raw deflate if the zlib header is missing
        else:
            raise ValueError(f"unsupported content encoding {encoding!r}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            for start in range(0, len(data), DECODE_PIECE):
                yield data[start:start + DECODE_PIECE]
            return
        while data:
            before = data
            try:
                piece = self._z.decompress(data, DECODE_PIECE)
            except zlib.error:
                if not self._raw_deflate:
                    raise ValueError("damaged compressed answer") from None
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                self._raw_deflate = False
                continue
            self._raw_deflate = False
            data = self._z.unconsumed_tail
            if piece:
                yield piece
            elif data == before:
                return  # nothing more comes out of this input

    def flush(self) -> bytes:
        return self._z.flush(DECODE_PIECE) if self._z is not None else b""


@dataclass
class TooLarge(Exception):
    """An answer went past its cap (counted after decompression); nothing was parsed."""

    cap: int


class TooSlow(httpx.TimeoutException):
    """An answer's body came slower than :data:`MIN_RATE` after :data:`RATE_GRACE`."""


def iter_bounded(response: httpx.Response, cap: int) -> Iterator[bytes]:
    """The decoded body of a streamed ``response`` in pieces, stopping at ``cap`` bytes, and
    at :class:`TooSlow` when it arrives slower than a working line would carry it."""
    try:
        decoder = BoundedDecoder(response.headers.get("content-encoding"))
    except ValueError as exc:
        raise httpx.DecodingError(str(exc)) from None
    total = received = 0
    started = time.monotonic()
    grace = limit("grace", RATE_GRACE)
    try:
        for raw in response.iter_raw():
            received += len(raw)
            elapsed = time.monotonic() - started
            if elapsed > grace and received < MIN_RATE * elapsed:
                raise TooSlow("the answer came too slowly")
            for piece in decoder.feed(raw):
                total += len(piece)
                if total > cap:
                    raise TooLarge(cap)
                yield piece
        tail = decoder.flush()
    except ValueError as exc:
        raise httpx.DecodingError(str(exc)) from None
    total += len(tail)
    if total > cap:
        raise TooLarge(cap)
    if tail:
        yield tail


@dataclass
class Answer:
    """A whole answer read within its bounds: what the clients read of an httpx.Response.
    The body stays the bytearray it was read into (a copy of a 100 MiB list costs 100 MiB)."""

    status_code: int
    headers: httpx.Headers
    content: bytes | bytearray

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


def send_bounded(
    client: httpx.Client, method: str, url: str, *, cap: int, seconds: float,
    **kwargs: Any,
) -> Answer:
    """Send one request and read its answer whole, within ``cap`` bytes and ``seconds``.

    The answer holds the decoded body. Raises :class:`TooLarge`, or httpx's errors (a passed
    deadline is a timeout). A request with nothing to upload must have its answer's headers
    within :data:`HEADERS_WITHIN`.
    """
    quick = not (kwargs.get("files") or kwargs.get("content") is not None)
    with deadline(seconds):
        request = client.build_request(method, url, **kwargs)
        if kwargs.get("files") and all(isinstance(part[1][1], bytes | str)
                                       for part in kwargs["files"]):
            request.read()  # a form of plain fields: one write, not one per part
        with deadline(min(seconds, HEADERS_WITHIN)) if quick else _no_limit():
            response = client.send(request, stream=True)
        try:
            if not response.is_success:
                return error_answer(response)
            body = bytearray()
            for piece in iter_bounded(response, cap):
                body += piece
        finally:
            response.close()
    return Answer(response.status_code, response.headers, body)


@contextmanager
def _no_limit() -> Iterator[None]:
    yield


@dataclass
class StreamedAnswer:
    """A successful answer whose body is read as it arrives: ``pieces`` is the decoded body,
    within its cap, the rate floor and the request's deadline."""

    status_code: int
    headers: httpx.Headers
    pieces: Iterator[bytes]


@contextmanager
def open_bounded(
    client: httpx.Client, method: str, url: str, *, cap: int, seconds: float, **kwargs: Any,
) -> Iterator[Answer | StreamedAnswer]:
    """:func:`send_bounded` for an answer read piece by piece: a success is a
    :class:`StreamedAnswer` to read inside the block (the deadline holds until it ends), a
    failure an :class:`Answer` read for its explanation. For a request without a body."""
    with deadline(seconds):
        request = client.build_request(method, url, **kwargs)
        with deadline(min(seconds, HEADERS_WITHIN)):
            response = client.send(request, stream=True)
        try:
            if response.is_success:
                yield StreamedAnswer(response.status_code, response.headers,
                                     iter_bounded(response, cap))
            else:
                yield error_answer(response)
        finally:
            response.close()


def error_answer(response: httpx.Response) -> Answer:
    """A streamed error answer read for its explanation only: at most :data:`ERROR_LIMIT`
    bytes are kept, the rest is not read."""
    body = bytearray()
    try:
        for piece in iter_bounded(response, ERROR_LIMIT):
            body += piece
    except (TooLarge, httpx.DecodingError):
        body = bytearray()  # too long or damaged to be an explanation
    return Answer(response.status_code, response.headers, body)


def too_large(exc: TooLarge, *, creates: bool, server: str = "the server",
              route: str | None = None) -> err.ProtocolError:
    """What an oversized answer means: nothing applied; for a create, maybe stored there."""
    who = _sentence(server)
    size = f"{exc.cap // MIB} MiB" if exc.cap >= MIB else f"{exc.cap // 1024} KiB"
    tail = (" It may have saved this; Case Desk checks the server before sending it again."
            if creates else " Nothing was applied here.")
    return err.ProtocolError(
        f"{who}'s answer was larger than Case Desk accepts ({size}), so it was not read."
        + tail, route=route, retryable=False, outcome_unknown=creates)
