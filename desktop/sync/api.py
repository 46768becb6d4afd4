"""HTTP client for dialect 1, the MedMitra case API (docs/API.md in the shared folder).

One ``httpx.Client`` per instance; every failure becomes a typed ``desktop.sync.errors``
exception whose flags tell the sync engine to retry, reconcile, park or ask for sign-in.
Parsing is tolerant: both field spellings of the deployed backend, ids as text, unknown status
values kept. Uploads and downloads stream: memory stays flat whatever the file size.

Logs carry only the method, the route template and the status: never ids of files by name,
patient data, URLs with file names, or the token.
"""

from __future__ import annotations

import contextlib
import email.utils
import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import quote, urlsplit

import httpx

from desktop.sync import errors as err
from desktop.sync.tls import shared_tls_context

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""progress(bytes_done, bytes_total): called as bytes go out (uploads) or come in (downloads);
``bytes_total`` is 0 when a download's size is unknown."""

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=60.0, pool=5.0)
DETAIL_LIMIT = 400
CATEGORY_FIELDS = {"lab": "lab_files", "radiology": "radiology_files"}
CASE_FORM_FIELDS = ("patient_name", "patient_age", "patient_gender", "case_summary")


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class Attachment:
    """A local file to send inside ``create_case``; category picks lab_files/radiology_files."""

    path: Path
    name: str
    mime: str
    category: Literal["lab", "radiology"] | str = "lab"


@dataclass(slots=True)
class RemoteCase:
    """A case as the server listed it. Read-only by use; not ``frozen``, whose ``__init__``
    sets each field through ``object.__setattr__`` (14 ms of a 10,000-case first sync)."""

    server_id: str
    numeric_id: str | None
    user_id: str | None
    patient_name: str | None
    patient_age: int | None
    patient_gender: str | None
    case_summary: str | None
    status: str | None
    created_at: str | None
    updated_at: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RemoteFile:
    file_id: str
    case_id: str | None
    file_name: str
    file_type: str | None
    file_size: int | None
    file_url: str | None  # absolute
    file_category: str | None
    uploaded_at: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class CaseDetail:
    case: RemoteCase
    files: list[RemoteFile]
    insights: dict[str, Any] | None


# ------------------------------------------------------------------ tolerant parsing


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _id(value: Any) -> str | None:
    """Ids are opaque text; the server may send 12, 12.0 or "12"."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _text(value)
    return text.strip() or None if text is not None else None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if math.isfinite(number) and number.is_integer() else None
    return None


def _first(raw: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if raw.get(name) is not None:
            return raw[name]
    return None


def case_stamp(raw: Any) -> tuple[str, str | None]:
    """(server id, updated_at) of a case record, read the way :func:`parse_case` reads them."""
    if type(raw) is dict:  # the usual shape, checked without the general conversions
        server_id, updated = raw.get("case_id"), raw.get("updated_at")
        if type(server_id) is str and server_id.strip() == server_id and server_id and (
            updated is None or type(updated) is str
        ):
            return server_id, updated
    if not isinstance(raw, Mapping):
        raise _shape_error("a case record is not an object")
    server_id = _id(raw.get("case_id")) or _id(raw.get("id"))
    if server_id is None:
        raise _shape_error("a case record has no id")
    return server_id, _text(raw.get("updated_at"))


def parse_case(raw: Any) -> RemoteCase:
    """A case record in either spelling; raises ProtocolError when it has no id at all."""
    if not isinstance(raw, Mapping):
        raise _shape_error("a case record is not an object")
    server_id = _id(raw.get("case_id")) or _id(raw.get("id"))
    if server_id is None:
        raise _shape_error("a case record has no id")
    numeric_id = _id(raw.get("id")) if "case_id" in raw else None
    if numeric_id is not None and not numeric_id.lstrip("-").isdigit():
        numeric_id = None
    return RemoteCase(
        server_id=server_id,
        numeric_id=numeric_id,
        user_id=_id(_first(raw, "user_id", "doctor_id")),
        patient_name=_text(raw.get("patient_name")),
        patient_age=_int(raw.get("patient_age")),
        patient_gender=_text(raw.get("patient_gender")),
        case_summary=_text(raw.get("case_summary")),
        status=_text(raw.get("status")),
        created_at=_text(raw.get("created_at")),
        updated_at=_text(raw.get("updated_at")),
        raw=dict(raw),
    )


def resolve_url(base_url: str, url: str | None) -> str | None:
    """Absolute URLs stay; ``/files/1/x.pdf`` and ``lab_files/<case>/x.pdf`` both hang off
    the server base URL (keeping any path prefix it has, as API routes do)."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if url.startswith("//"):
        return f"{urlsplit(base_url).scheme}:{url}"
    return base_url.rstrip("/") + "/" + url.lstrip("/")


def parse_file(raw: Any, base_url: str, case_id: str | None = None) -> RemoteFile:
    if not isinstance(raw, Mapping):
        raise _shape_error("a file record is not an object")
    file_id = _id(_first(raw, "file_id", "id"))
    if file_id is None:
        raise _shape_error("a file record has no id")
    return RemoteFile(
        file_id=file_id,
        case_id=_id(raw.get("case_id")) or case_id,
        file_name=_text(raw.get("file_name")) or "document",
        file_type=_text(raw.get("file_type")),
        file_size=_int(raw.get("file_size")),
        file_url=resolve_url(base_url, _text(raw.get("file_url"))),
        file_category=_text(raw.get("file_category")),
        uploaded_at=_text(_first(raw, "uploaded_at", "upload_date")),
        raw=dict(raw),
    )


def _shape_error(why: str) -> err.ProtocolError:
    return err.ProtocolError(
        "The server's answer was not in the expected form, so nothing was applied "
        f"({why}). The server may be a different version than Case Desk expects.",
        retryable=False,
    )


def _list_of(payload: Mapping[str, Any], key: str) -> list[Any]:
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _shape_error(f"'{key}' is not a list")
    return value


# ------------------------------------------------------------------ error mapping helpers


def _clean(text: str) -> str:
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def _field_name(loc: Any) -> str:
    if isinstance(loc, (list, tuple)):
        parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header")]
        return ".".join(parts) or ".".join(str(p) for p in loc)
    return str(loc) if loc is not None else ""


def _detail(body: Any) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """FastAPI ``detail`` as readable text, plus (field, message) pairs for 422 lists."""
    if not isinstance(body, Mapping) or "detail" not in body:
        return None, ()
    detail = body["detail"]
    if isinstance(detail, str):
        return _clean(detail) or None, ()
    if isinstance(detail, list):
        pairs: list[tuple[str, str]] = []
        for item in detail:
            if isinstance(item, Mapping):
                name = _field_name(item.get("loc"))
                msg = _clean(str(item.get("msg") or item.get("type") or "invalid"))
                pairs.append((name, msg))
            elif isinstance(item, str):
                pairs.append(("", _clean(item)))
        text = "; ".join(f"{n}: {m}" if n else m for n, m in pairs)
        return (_clean(text) or None), tuple(pairs)
    if isinstance(detail, Mapping):
        message = detail.get("message") or detail.get("msg")
        if isinstance(message, str):
            return _clean(message) or None, ()
    return None, ()


def _int_id_refused(body: Any) -> bool:
    """Is this the deployed backend's 422 "case_id must be an integer"?"""
    if not isinstance(body, Mapping) or not isinstance(body.get("detail"), list):
        return False
    for item in body["detail"]:
        if not isinstance(item, Mapping):
            continue
        loc = item.get("loc")
        last = loc[-1] if isinstance(loc, (list, tuple)) and loc else loc
        kind = str(item.get("type") or "")
        msg = str(item.get("msg") or "").lower()
        if last == "case_id" and ("int" in kind or "integer" in msg):
            return True
    return False


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


# ------------------------------------------------------------------ streaming uploads


class _SentCounter:
    """Adds up bytes read from several files of one request and reports the running total."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress

    def add(self, count: int) -> None:
        self.done += count
        if self.progress is not None and count:
            self.progress(self.done, self.total)


READ_CHUNK = 1024 * 1024


class _ProgressFile(io.RawIOBase):
    """A read-only file that reports each chunk httpx pulls from it.

    httpx's multipart encoder reads file objects 64 KiB at a time, so wrapping (rather than
    reading) keeps memory flat; ``fileno`` lets httpx compute Content-Length without reading,
    and ``seek(0)`` (done by httpx before each send) rewinds the count for a retry.
    """

    def __init__(self, path: Path, counter: _SentCounter) -> None:
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


# ------------------------------------------------------------------ the client


class MedMitraClient:
    """Talks dialect 1 for one doctor. Use as a context manager or call ``close()``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        user_id: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.user_id = user_id
        self._token = token
        self._origin = _origin(self.base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "CaseDesk"},
            verify=shared_tls_context(),
        )

    def __enter__(self) -> MedMitraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # never show the token
        return f"MedMitraClient({self.base_url!r}, user_id={self.user_id!r})"

    # -------------------------------------------------------------- cases

    def list_cases(self) -> list[RemoteCase]:
        """The doctor's cases, newest first as the server sends them."""
        return [parse_case(item) for item in self.list_case_records()]

    def list_case_records(self) -> list[Any]:
        """The same list unparsed: a pull reads :func:`case_stamp` of each and parses only
        the new and changed ones (10,000 records parse in ~50 ms; most are unchanged)."""
        payload = self._json("GET", "/cases/all_cases", "/cases/all_cases",
                             params={"user_id": self.user_id})
        return _list_of(payload, "cases")

    def get_case(self, server_id: str, numeric_id: str | None = None) -> CaseDetail:
        """One case with its files and AI insights (None when the server has none yet)."""
        payload = self._json(
            "GET", "/cases/cases/{case_id}", lambda cid: f"/cases/cases/{_seg(cid)}",
            case_ids=(server_id, numeric_id),
        )
        case = parse_case(payload.get("case"))
        files = [parse_file(f, self.base_url, case.server_id)
                 for f in _list_of(payload, "files")]
        insights = payload.get("ai_insights")
        return CaseDetail(case, files, dict(insights) if isinstance(insights, Mapping) else None)

    def create_case(
        self,
        fields: Mapping[str, Any],
        attachments: Sequence[Attachment] = (),
        progress: Progress | None = None,
    ) -> tuple[RemoteCase, list[RemoteFile]]:
        """Create a case, sending its files in the same multipart request (streamed from disk).

        Not idempotent: any failure after the request may have left (timeout, dropped
        connection, 5xx, unreadable answer) is ``outcome_unknown``: reconcile before resending.
        """
        data: dict[str, str] = {"user_id": str(fields.get("user_id") or self.user_id)}
        for name in CASE_FORM_FIELDS:
            value = fields.get(name)
            if value is not None:
                data[name] = str(value)
        counter = _SentCounter(sum(_size_of(a.path) for a in attachments), progress)
        opened: list[_ProgressFile] = []
        try:
            files: list[tuple[str, tuple[str, Any, str]]] = []
            for a in attachments:
                form_field = CATEGORY_FIELDS.get(a.category)
                if form_field is None:
                    raise err.RejectedError(
                        f"A document has the category {a.category!r}; the server accepts "
                        "only lab or radiology documents."
                    )
                handle = _open_local(a.path, counter)
                opened.append(handle)
                files.append((form_field, (a.name, handle, a.mime or "application/octet-stream")))
            if not files:
                # Plain fields as filename-less parts: the documented body is multipart even
                # when no file travels with it (httpx would otherwise send urlencoded).
                files = [(k, (None, v.encode(), None)) for k, v in data.items()]  # type: ignore[misc]
                data = {}
            payload = self._json(
                "POST", "/cases/create_case", "/cases/create_case",
                data=data, files=files, creates=True,
            )
        finally:
            for handle in opened:
                handle.close()
        with _stored_anyway():
            case = parse_case(payload.get("case"))
            uploaded = [parse_file(f, self.base_url, case.server_id)
                        for f in _list_of(payload, "uploaded_files")]
        return case, uploaded

    def update_case(
        self, server_id: str, changes: Mapping[str, Any], numeric_id: str | None = None
    ) -> RemoteCase:
        """PUT only the given fields. An empty ``changes`` is refused by the server (400)."""
        payload = self._json(
            "PUT", "/cases/cases/{case_id}", lambda cid: f"/cases/cases/{_seg(cid)}",
            case_ids=(server_id, numeric_id), json_body=dict(changes),
        )
        return parse_case(payload.get("case"))

    def delete_case(self, server_id: str, numeric_id: str | None = None) -> None:
        self._json(
            "DELETE", "/cases/cases/{case_id}", lambda cid: f"/cases/cases/{_seg(cid)}",
            case_ids=(server_id, numeric_id),
        )

    # -------------------------------------------------------------- files

    def upload_file(
        self,
        server_id: str,
        path: Path | str,
        name: str,
        mime: str,
        progress: Progress | None = None,
        numeric_id: str | None = None,
    ) -> RemoteFile:
        """Attach one file to an existing case, streamed from disk with progress.

        Not idempotent (see ``create_case``). The upload response has no ``file_category``.
        """
        path = Path(path)
        counter = _SentCounter(_size_of(path), progress)
        handle = _open_local(path, counter)
        try:
            payload = self._json(
                "POST", "/cases/upload", "/cases/upload",
                case_ids=(server_id, numeric_id), case_id_in_form=True,
                data={}, files=[("file", (name, handle, mime or "application/octet-stream"))],
                creates=True,
            )
        finally:
            handle.close()
        with _stored_anyway():
            return parse_file(payload.get("file"), self.base_url, server_id)

    def list_files(self, server_id: str, numeric_id: str | None = None) -> list[RemoteFile]:
        """A case's files in upload order ([] when none)."""
        payload = self._json(
            "GET", "/cases/files/{case_id}", lambda cid: f"/cases/files/{_seg(cid)}",
            case_ids=(server_id, numeric_id),
        )
        return [parse_file(f, self.base_url, server_id) for f in _list_of(payload, "files")]

    def get_file(self, file_id: str) -> RemoteFile:
        payload = self._json("GET", "/cases/file/{file_id}", f"/cases/file/{_seg(file_id)}")
        return parse_file(payload.get("file"), self.base_url)

    def delete_file(self, file_id: str, case_id: str, numeric_id: str | None = None) -> None:
        self._json(
            "DELETE", "/cases/file/{file_id}", f"/cases/file/{_seg(file_id)}",
            case_ids=(case_id, numeric_id), case_id_in_query=True,
        )

    # -------------------------------------------------------------- downloads

    def download_chunks(
        self, file_url: str, progress: Progress | None = None
    ) -> Iterator[bytes]:
        """Yield a file's bytes as they arrive (never the whole body in memory).

        The token goes only to the API's own origin; an absolute URL elsewhere (public
        storage) is fetched without it, and redirects drop it too.
        """
        url = resolve_url(self.base_url, file_url)
        if url is None:
            raise err.SyncError("This document has no download address on the server.")
        same_origin = _origin(url) == self._origin
        headers = {"Accept": "*/*"}
        if same_origin:
            headers["Authorization"] = f"Bearer {self._token}"
        route = "download"
        started = time.monotonic()
        try:
            with self._http.stream("GET", url, headers=headers, follow_redirects=True) as resp:
                if resp.status_code >= 300:
                    resp.read()
                    self._log(route, "GET", resp.status_code, started)
                    raise self._status_error(resp, "GET", route, creates=False)
                # With a content encoding the length counts compressed bytes: unknown total.
                encoded = resp.headers.get("content-encoding", "identity") != "identity"
                total = 0 if encoded else _int(resp.headers.get("content-length")) or 0
                done = 0
                for chunk in resp.iter_bytes():
                    if not chunk:
                        continue
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                    yield chunk
                self._log(route, "GET", resp.status_code, started)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "GET", route, creates=False) from None

    def download(
        self,
        file_url: str,
        dest: BinaryIO | Callable[[bytes], Any],
        progress: Progress | None = None,
    ) -> int:
        """Stream a file into ``dest`` (a binary file or a chunk sink); returns bytes written.

        On failure ``dest`` may hold part of the file: the caller discards it.
        """
        write = dest if callable(dest) and not hasattr(dest, "write") else dest.write  # type: ignore[union-attr]
        count = 0
        for chunk in self.download_chunks(file_url, progress=progress):
            write(chunk)
            count += len(chunk)
        return count

    # -------------------------------------------------------------- plumbing

    def _json(
        self,
        method: str,
        route: str,
        path: str | Callable[[str], str],
        *,
        case_ids: tuple[str, str | None] | None = None,
        case_id_in_form: bool = False,
        case_id_in_query: bool = False,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        files: list[tuple[str, tuple[str, Any, str]]] | None = None,
        json_body: dict[str, Any] | None = None,
        creates: bool = False,
    ) -> dict[str, Any]:
        """Send one request (plus at most one retry with the numeric case id) and return its
        JSON object, or raise the typed error for whatever went wrong."""
        candidates: list[str] = []
        if case_ids is not None:
            candidates.append(case_ids[0])
            if case_ids[1] is not None and str(case_ids[1]) != str(case_ids[0]):
                candidates.append(str(case_ids[1]))
        else:
            candidates.append("")
        for attempt, case_id in enumerate(candidates):
            url = path(case_id) if callable(path) else path
            query = dict(params or {})
            form = dict(data) if data is not None else None
            if case_id_in_query:
                query["case_id"] = case_id
            if case_id_in_form and form is not None:
                form["case_id"] = case_id
            response = self._send(
                method, route, url, params=query or None, data=form, files=files,
                json_body=json_body, creates=creates,
            )
            if response.is_success:
                return self._decode(response, method, route, creates)
            body = _safe_json(response)
            if (
                response.status_code == 422
                and _int_id_refused(body)
                and attempt + 1 < len(candidates)
            ):
                log.info("%s %s: case_id must be an integer; retrying with the numeric id",
                         method, route)
                continue
            raise self._status_error(response, method, route, creates, body=body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        route: str,
        url: str,
        *,
        params: dict[str, str] | None,
        data: dict[str, str] | None,
        files: list[tuple[str, tuple[str, Any, str]]] | None,
        json_body: dict[str, Any] | None,
        creates: bool,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token}"}
        started = time.monotonic()
        try:
            response = self._http.request(
                method, url, params=params, data=data, files=files, json=json_body,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            log.info("%s %s failed: %s", method, route, type(exc).__name__)
            raise self._transport_error(exc, method, route, creates) from None
        except OSError as exc:
            # Reading a local file we were streaming failed (moved, unplugged disk).
            log.warning("%s %s: local file read failed: %s", method, route, type(exc).__name__)
            raise err.SyncError(
                "A file being sent could not be read from this computer; nothing was saved "
                "on the server. Check that the file is still there and try again.",
                route=route,
            ) from None
        self._log(route, method, response.status_code, started)
        return response

    def _log(self, route: str, method: str, status: int, started: float) -> None:
        level = logging.INFO if status >= 400 else logging.DEBUG
        log.log(level, "%s %s -> %d (%.0f ms)", method, route, status,
                (time.monotonic() - started) * 1000)

    def _decode(
        self, response: httpx.Response, method: str, route: str, creates: bool
    ) -> dict[str, Any]:
        try:
            payload = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            log.info("%s %s: unreadable JSON answer", method, route)
            raise err.ProtocolError(
                _unreadable_message(creates), status=response.status_code, route=route,
                outcome_unknown=creates,
            ) from None
        if not isinstance(payload, dict):
            error = _shape_error("the answer is not an object")
            error.outcome_unknown, error.route = creates, route
            raise error
        return payload

    def _status_error(
        self,
        response: httpx.Response,
        method: str,
        route: str,
        creates: bool,
        body: Any = None,
    ) -> err.SyncError:
        status = response.status_code
        if body is None:
            body = _safe_json(response)
        detail, pairs = _detail(body)
        common: dict[str, Any] = {"status": status, "detail": detail, "route": route}
        if status == 401:
            return err.AuthError(**common)
        if status == 404:
            message = (f"The server could not find this ({detail.rstrip('.')}); it may have "
                       "been deleted there." if detail else None)
            return err.RemoteNotFound(message, **common)
        if status == 429 or status >= 500 or status == 408:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            busy = "busy" if status in (429, 503) else "having a problem"
            # The detail of a 5xx is server internals (maybe echoing data): kept in .detail only.
            message = f"The server is {busy} (error {status})."
            if creates:
                message += (" It may have saved this before failing; Case Desk checks the "
                            "server before sending it again.")
                return err.ServerOutcomeUnknownError(message, retry_after=retry_after, **common)
            message += " It will be tried again later."
            return err.ServerError(message, retry_after=retry_after, **common)
        if 300 <= status < 400:
            return err.ProtocolError(
                f"The server answered with a redirect (status {status}); check the server "
                "address in the sign-in settings.",
                retryable=False, **common,
            )
        # 400, 403, 422, 409, 413 and any other 4xx: a permanent refusal of this change.
        int_id = status == 422 and _int_id_refused(body)
        if int_id:
            message = ("The server refused this change because it expects a numeric case "
                       "number, and none is known for this case")
            message += f" ({detail})." if detail else "."
        elif status == 413:
            message = "The server refused the file because it is too large"
            message += f": {detail}." if detail else "."
        elif status == 403:
            message = "The server does not allow this"
            message += f": {detail}" if detail else " for your account"
        else:
            message = "The server refused this change"
            message += f": {detail}" if detail else f" (error {status})"
        if not message.endswith("."):
            message += "."
        return err.RejectedError(message, field_errors=pairs, int_id_required=int_id, **common)

    def _transport_error(
        self, exc: httpx.HTTPError, method: str, route: str, creates: bool
    ) -> err.SyncError:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return err.OfflineError(route=route)
        if isinstance(exc, httpx.PoolTimeout):
            return err.NetworkError(
                "Too many requests were waiting for a connection; nothing was sent. It will "
                "be tried again.", route=route)
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return err.SyncError(
                "The server address is not a valid web address; check it in the sign-in "
                "settings.", route=route)
        if isinstance(exc, httpx.DecodingError):
            return err.ProtocolError(_unreadable_message(creates), route=route,
                                     outcome_unknown=creates)
        if isinstance(exc, httpx.TooManyRedirects):
            return err.ProtocolError("The server redirected too many times; check the server "
                                     "address.", route=route, retryable=False)
        # Timeouts after connecting, dropped connections, broken writes: the request may
        # have been received.
        timed_out = isinstance(exc, httpx.TimeoutException)
        if method == "GET":
            return err.NetworkError(
                "The server took too long to answer while fetching data; it will be tried "
                "again." if timed_out else None,
                route=route,
            )
        lead = ("The server took too long to answer" if timed_out
                else "The connection to the server broke before it answered")
        return err.OutcomeUnknownError(
            f"{lead}; this change may or may not have been saved. Case Desk checks the "
            "server before sending it again.",
            route=route,
        )


@contextlib.contextmanager
def _stored_anyway() -> Iterator[None]:
    """A create/upload answer we cannot parse still means the server stored something."""
    try:
        yield
    except err.ProtocolError as exc:
        exc.outcome_unknown = True
        raise


def _unreadable_message(creates: bool) -> str:
    if creates:
        return ("The server's answer was cut off or unreadable; it may have saved this. "
                "Case Desk checks the server before sending it again.")
    return ("The server's answer was cut off or unreadable, so nothing was applied here. "
            "It will be tried again.")


def _safe_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _seg(value: str) -> str:
    """An opaque id as one path segment ("/" or "?" in an id must not change the route)."""
    return quote(str(value), safe="")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, f"{(parts.hostname or '').lower()}:{port}"


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        raise _local_missing() from None


def _open_local(path: Path, counter: _SentCounter) -> _ProgressFile:
    try:
        return _ProgressFile(path, counter)
    except OSError:
        raise _local_missing() from None


def _local_missing() -> err.SyncError:
    return err.SyncError(
        "A file to send is missing or unreadable on this computer; nothing was sent. "
        "Attach it again."
    )

