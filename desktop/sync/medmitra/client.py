"""HTTP client for dialect 1, the MedMitra case API (docs/API.md in the shared folder).

One ``httpx.Client`` per instance; every failure becomes a typed ``desktop.sync.errors``
exception whose flags tell the outbox engine to retry, reconcile, park or ask for sign-in.
Uploads and downloads stream: memory stays flat whatever the file size.

Logs carry only the method, the route template and the status: never ids of files by name,
patient data, URLs with file names, or the token.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import httpx

from desktop.sync import errors as err
from desktop.sync.http import (
    ANSWER_LIMIT,
    DEFAULT_TIMEOUT,
    DOWNLOAD_LIMIT,
    DOWNLOAD_MARGIN,
    HEADERS_WITHIN,
    LIST_DEADLINE,
    LIST_LIMIT,
    REQUEST_DEADLINE,
    Answer,
    Progress,
    ProgressFile,
    Sendable,
    SentCounter,
    TooLarge,
    deadline,
    error_answer,
    iter_bounded,
    limit,
    log_answer,
    new_http_client,
    open_bounded,
    open_progress_file,
    origin,
    parse_retry_after,
    path_segment,
    safe_json,
    send_bounded,
    size_of,
    too_large,
    transfer_deadline,
    transport_error,
    unreadable_answer,
)
from desktop.sync.json_answer import TooDense, decode_json
from desktop.sync.json_stream import NotAList, NotAnObject, array_items
from desktop.sync.medmitra.records import (
    bad_shape,
    detail_of,
    int_id_refused,
    list_of,
    parse_case,
    parse_file,
    resolve_url,
)
from desktop.sync.records import (
    CaseDetail,
    RemoteCase,
    RemoteFile,
    UnreadableRecord,
    insights_of,
    int_of,
    usable,
)

log = logging.getLogger(__name__)

CATEGORY_FIELDS = {"lab": "lab_files", "radiology": "radiology_files"}
CASE_FORM_FIELDS = ("patient_name", "patient_age", "patient_gender", "case_summary")
# Fields a person may empty. The server ignores a null in an update (API.md), so an emptied
# field goes as "", which it stores.
CLEARABLE_FIELDS = frozenset({"case_summary"})


@dataclass(frozen=True)
class Attachment:
    """A local file to send inside ``create_case``; category picks lab_files/radiology_files."""

    path: Sendable
    name: str
    mime: str
    category: Literal["lab", "radiology"] | str = "lab"


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
        self._origin = origin(self.base_url)
        self._http = new_http_client(self.base_url, timeout=timeout, transport=transport)

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
        set_aside: list[UnreadableRecord] = []
        cases = usable(parse_case, self.list_case_records(), set_aside)
        _log_set_aside(set_aside)
        return cases

    def list_case_records(self) -> list[Any]:
        """The same list unparsed: a pull reads :func:`case_stamp` of each and parses only
        the new and changed ones (10,000 records parse in ~50 ms; most are unchanged)."""
        return list(self.iter_case_records())

    def iter_case_records(self) -> Iterator[Any]:
        """The list's records unparsed, one by one as the answer arrives (never the whole
        answer in memory: 100,000 cases are ~30 MiB of JSON). An answer found bad part way
        raises its typed error then, after the records before it: a caller applies nothing
        of them until the end (the pull's one transaction)."""
        route = "/cases/all_cases"
        started = time.monotonic()
        try:
            with open_bounded(self._http, "GET", route, cap=int(limit("list", LIST_LIMIT)),
                              seconds=LIST_DEADLINE, params={"user_id": self.user_id},
                              headers={"Authorization": f"Bearer {self._token}"}) as answer:
                if isinstance(answer, Answer):
                    log_answer(log, "GET", route, answer.status_code, started)
                    raise self._status_error(answer, "GET", route, creates=False)
                try:
                    yield from array_items(answer.pieces, "cases")
                except (NotAnObject, NotAList) as exc:
                    error = bad_shape(str(exc))
                    error.route = route
                    raise error from None
                except TooDense:
                    log.info("GET %s: answer refused unparsed (too dense)", route)
                    raise _too_dense(answer.status_code, route, creates=False) from None
                except (ValueError, UnicodeDecodeError):
                    log.info("GET %s: unreadable JSON answer", route)
                    raise err.ProtocolError(unreadable_answer(False), status=answer.status_code,
                                            route=route) from None
            log_answer(log, "GET", route, answer.status_code, started)
        except TooLarge as exc:
            log.info("GET %s: answer over %d bytes", route, exc.cap)
            raise too_large(exc, creates=False, route=route) from None
        except httpx.HTTPError as exc:
            log.info("GET %s failed: %s", route, type(exc).__name__)
            raise self._transport_error(exc, "GET", route, creates=False) from None

    def case_detail(self, server_id: str, numeric_id: str | None = None) -> CaseDetail:
        """One case with its files and AI insights (None when the server has none yet)."""
        payload = self._json(
            "GET", "/cases/cases/{case_id}", lambda cid: f"/cases/cases/{path_segment(cid)}",
            case_ids=(server_id, numeric_id),
        )
        set_aside: list[UnreadableRecord] = []
        case: RemoteCase | None
        try:
            case = parse_case(payload.get("case"))
        except UnreadableRecord as exc:
            set_aside.append(exc)
            case = None
        files = usable(lambda f: parse_file(f, self.base_url, server_id),
                       list_of(payload, "files"), set_aside)
        insights = insights_of(payload.get("ai_insights"), set_aside)
        _log_set_aside(set_aside)
        return CaseDetail(case, files, insights, set_aside)

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
        counter = SentCounter(sum(size_of(a.path) for a in attachments), progress)
        opened: list[ProgressFile] = []
        try:
            files: list[tuple[str, tuple[str, Any, str]]] = []
            for a in attachments:
                form_field = CATEGORY_FIELDS.get(a.category)
                if form_field is None:
                    raise err.RejectedError(
                        f"A document has the category {a.category!r}; the server accepts "
                        "only lab or radiology documents."
                    )
                handle = open_progress_file(a.path, counter)
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
                seconds=transfer_deadline(counter.total),
            )
        finally:
            for handle in opened:
                handle.close()
        with _stored_anyway():
            case = parse_case(payload.get("case"))
            uploaded = [parse_file(f, self.base_url, case.server_id)
                        for f in list_of(payload, "uploaded_files")]
        return case, uploaded

    def update_case(
        self, server_id: str, changes: Mapping[str, Any], numeric_id: str | None = None
    ) -> RemoteCase:
        """PUT only the given fields, an emptied one (None) as "". An empty ``changes`` is
        refused by the server (400)."""
        body = {name: "" if value is None and name in CLEARABLE_FIELDS else value
                for name, value in changes.items()}
        payload = self._json(
            "PUT", "/cases/cases/{case_id}", lambda cid: f"/cases/cases/{path_segment(cid)}",
            case_ids=(server_id, numeric_id), json_body=body,
        )
        return parse_case(payload.get("case"))

    def delete_case(self, server_id: str, numeric_id: str | None = None) -> None:
        self._json(
            "DELETE", "/cases/cases/{case_id}", lambda cid: f"/cases/cases/{path_segment(cid)}",
            case_ids=(server_id, numeric_id),
        )

    def analyze_case(self, server_id: str, numeric_id: str | None = None) -> RemoteCase:
        """Ask the server to (re)analyse a case; the answer is the case as the analysis
        starts (its status moves processing → analyzing → completed or failed)."""
        payload = self._json(
            "POST", "/cases/analyze/{case_id}",
            lambda cid: f"/cases/analyze/{path_segment(cid)}", case_ids=(server_id, numeric_id),
        )
        return parse_case(payload.get("case"))

    # -------------------------------------------------------------- files

    def upload_file(
        self,
        server_id: str,
        path: Sendable | str,
        name: str,
        mime: str,
        progress: Progress | None = None,
        numeric_id: str | None = None,
    ) -> RemoteFile:
        """Attach one file to an existing case, streamed from disk with progress.

        Not idempotent (see ``create_case``). The upload response has no ``file_category``.
        """
        path = Path(path) if isinstance(path, str) else path
        counter = SentCounter(size_of(path), progress)
        handle = open_progress_file(path, counter)
        try:
            payload = self._json(
                "POST", "/cases/upload", "/cases/upload",
                case_ids=(server_id, numeric_id), case_id_in_form=True,
                data={}, files=[("file", (name, handle, mime or "application/octet-stream"))],
                creates=True, seconds=transfer_deadline(counter.total),
            )
        finally:
            handle.close()
        with _stored_anyway():
            return parse_file(payload.get("file"), self.base_url, server_id)

    def list_files(self, server_id: str, numeric_id: str | None = None) -> list[RemoteFile]:
        """A case's files in upload order ([] when none)."""
        payload = self._json(
            "GET", "/cases/files/{case_id}", lambda cid: f"/cases/files/{path_segment(cid)}",
            case_ids=(server_id, numeric_id),
        )
        set_aside: list[UnreadableRecord] = []
        files = usable(lambda f: parse_file(f, self.base_url, server_id),
                       list_of(payload, "files"), set_aside)
        _log_set_aside(set_aside)
        return files

    def get_file(self, file_id: str) -> RemoteFile:
        payload = self._json("GET", "/cases/file/{file_id}", f"/cases/file/{path_segment(file_id)}")
        return parse_file(payload.get("file"), self.base_url)

    def delete_file(self, file_id: str, case_id: str, numeric_id: str | None = None) -> None:
        self._json(
            "DELETE", "/cases/file/{file_id}", f"/cases/file/{path_segment(file_id)}",
            case_ids=(case_id, numeric_id), case_id_in_query=True,
        )

    # -------------------------------------------------------------- downloads

    def download_chunks(
        self, file_url: str | None, progress: Progress | None = None,
        declared: int | None = None,
    ) -> Iterator[bytes]:
        """Yield a file's bytes as they arrive (never the whole body in memory).

        The token goes only to the API's own origin; an absolute URL elsewhere (public
        storage) is fetched without it, and redirects drop it too. The bytes stop at the
        ``declared`` size plus a small margin (and at the largest download), within a deadline
        that grows with the size.
        """
        try:
            url = resolve_url(self.base_url, file_url)
        except ValueError:
            url = None
        if url is None:
            raise err.SyncError("This document has no usable download address on the server.")
        same_origin = origin(url) == self._origin
        headers = {"Accept": "*/*"}
        if same_origin:
            headers["Authorization"] = f"Bearer {self._token}"
        route = "download"
        started = time.monotonic()
        hard = int(limit("download", DOWNLOAD_LIMIT))
        cap = min(hard, declared + DOWNLOAD_MARGIN) if declared else hard
        try:
            with deadline(transfer_deadline(declared)):
                with deadline(HEADERS_WITHIN):
                    request = self._http.build_request("GET", url, headers=headers)
                    resp = self._http.send(request, stream=True, follow_redirects=True)
                try:
                    if resp.status_code >= 300:
                        answer = error_answer(resp)
                        log_answer(log, "GET", route, resp.status_code, started)
                        raise self._status_error(answer, "GET", route, creates=False)
                    # With a content encoding the length counts compressed bytes: unknown.
                    encoded = resp.headers.get("content-encoding", "identity") != "identity"
                    total = declared or (0 if encoded else
                                         int_of(resp.headers.get("content-length")) or 0)
                    done = 0
                    for chunk in iter_bounded(resp, cap):
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
                        yield chunk
                    log_answer(log, "GET", route, resp.status_code, started)
                finally:
                    resp.close()
        except TooLarge:
            log.info("GET %s: more bytes than declared or allowed", route)
            raise err.DownloadRefused(
                f"The server sent more than it declared for this document ({declared} bytes), "
                "so it was not kept" if declared and cap < hard else
                "The server sent more than Case Desk accepts for one document "
                f"({hard // (1 << 20)} MiB), so it was not kept", route=route,
            ) from None
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
        cap: int = ANSWER_LIMIT,
        seconds: float = REQUEST_DEADLINE,
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
                json_body=json_body, creates=creates, cap=cap, seconds=seconds,
            )
            if response.is_success:
                return self._decode(response, method, route, creates)
            body = safe_json(response)
            if (
                response.status_code == 422
                and int_id_refused(body)
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
        cap: int = ANSWER_LIMIT,
        seconds: float = REQUEST_DEADLINE,
    ) -> Answer:
        headers = {"Authorization": f"Bearer {self._token}"}
        started = time.monotonic()
        try:
            response = send_bounded(
                self._http, method, url, cap=int(limit("answer", cap)) if cap == ANSWER_LIMIT
                else cap, seconds=seconds, params=params, data=data, files=files,
                json=json_body, headers=headers,
            )
        except TooLarge as exc:
            log.info("%s %s: answer over %d bytes", method, route, exc.cap)
            raise too_large(exc, creates=creates, route=route) from None
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
        log_answer(log, method, route, response.status_code, started)
        return response

    def _decode(
        self, response: Answer, method: str, route: str, creates: bool
    ) -> dict[str, Any]:
        try:
            payload = decode_json(response.content)
        except TooDense:
            log.info("%s %s: answer refused unparsed (too dense)", method, route)
            raise _too_dense(response.status_code, route, creates) from None
        except (ValueError, UnicodeDecodeError):
            log.info("%s %s: unreadable JSON answer", method, route)
            raise err.ProtocolError(
                unreadable_answer(creates), status=response.status_code, route=route,
                outcome_unknown=creates,
            ) from None
        if not isinstance(payload, dict):
            error = bad_shape("the answer is not an object")
            error.outcome_unknown, error.route = creates, route
            raise error
        return payload

    def _status_error(
        self,
        response: Answer,
        method: str,
        route: str,
        creates: bool,
        body: Any = None,
    ) -> err.SyncError:
        status = response.status_code
        if body is None:
            body = safe_json(response)
        detail, pairs = detail_of(body)
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
        int_id = status == 422 and int_id_refused(body)
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
        return transport_error(exc, route=route, repeatable=method == "GET", creates=creates)


def _too_dense(status: int, route: str, creates: bool) -> err.ProtocolError:
    return err.ProtocolError(
        "The server's answer was built of far more empty records than any real answer "
        "holds, so it was not read." + (" It may have saved this; Case Desk checks the "
        "server before sending it again." if creates else " Nothing was applied here."),
        status=status, route=route, retryable=False, outcome_unknown=creates)


def _log_set_aside(set_aside: list[UnreadableRecord]) -> None:
    for exc in set_aside:  # the reason names fields only, never values
        log.warning("%s record set aside: %s", exc.what, exc.reason)


@contextlib.contextmanager
def _stored_anyway() -> Iterator[None]:
    """A create/upload answer we cannot parse still means the server stored something."""
    try:
        yield
    except err.ProtocolError as exc:
        exc.outcome_unknown = True
        raise
