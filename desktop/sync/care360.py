"""HTTP client for dialect 2, Care360 patient-portal files (docs/API.md in the shared folder).

Why it looks the way it does:

- Every request carries the organisation's ``cv-api-key``; authenticated ones a 15-minute access
  JWT. The client refreshes it shortly before it expires and once on a 401, and the refresh
  token *rotates*: the new one is handed to ``on_rotate`` (which writes it to the keychain)
  before the client forgets the old one.
- The upload body is JSON with the file as base64, which the server demands, but it is
  produced as a stream (:class:`Base64JsonBody`) with an exact Content-Length, so memory stays
  flat for a 1 GiB file.
- Envelope answers map to the typed errors of ``desktop.sync.errors``. A documented
  ``500 INTERNAL_ERROR`` on upload is *not* outcome-unknown: the server soft-deletes its row
  before answering, so a retry cannot duplicate. A dropped connection or timeout after the body
  is outcome-unknown: the engine reconciles through ``GET /me/files`` first.

Logs carry the method, the route template and the status only: never the key, tokens, the
email/phone, case ids or file names.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from desktop.sync import errors as err
from desktop.sync.api import DEFAULT_TIMEOUT, parse_retry_after
from desktop.sync.tls import shared_tls_context

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
RotateSink = Callable[[str], None]

PREFIX = "/api/v1/users"
ROUTE_SEND_OTP = f"{PREFIX}/auth/send-otp"
ROUTE_VERIFY_OTP = f"{PREFIX}/auth/verify-otp"
ROUTE_REFRESH = f"{PREFIX}/auth/refresh-token"
ROUTE_UPLOAD = f"{PREFIX}/me/files/upload"
ROUTE_FILES = f"{PREFIX}/me/files"

ALLOWED_MIME = (
    "application/pdf", "application/msword", "text/csv", "text/plain", "image/jpeg",
    "image/png", "image/svg+xml", "image/tiff", "image/webp",
)
DICOM_MIME = ("application/dicom", "image/dicom")
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NAME_MAX = 255
ACCESS_TTL_DEFAULT = 15 * 60
REFRESH_MARGIN = 60.0  # refresh this many seconds before the access token expires
DETAIL_LIMIT = 300
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: str | None) -> bool:
    return bool(value) and bool(_UUID.match(str(value).strip()))


# ------------------------------------------------------------------ local checks


def name_length(name: str) -> int:
    """Length as the server's (JavaScript) validator counts it: UTF-16 code units, so an
    emoji counts as two."""
    return len(name.encode("utf-16-le")) // 2


def upload_timeout(size: int) -> httpx.Timeout:
    """The answer comes only after the server has decoded and stored the whole file: allow
    the read time to grow with the size (about 5 MB/s) rather than call a slow save a failure."""
    return httpx.Timeout(connect=5.0, read=30.0 + size / 5e6, write=60.0, pool=5.0)


def check_upload(name: str, mime: str) -> None:
    """Refuse locally, with a reason a person can act on, what Care360 would refuse anyway."""
    length = name_length(name)
    if not 1 <= length <= NAME_MAX:
        raise err.RejectedError(
            f"Care360 accepts file names of 1 to {NAME_MAX} characters; this one has "
            f"{length}. Rename the document and attach it again."
        )
    kind = (mime or "").split(";")[0].strip().lower()
    if kind in DICOM_MIME:
        raise err.RejectedError(
            f"Care360 does not accept DICOM images ({kind}); export the image as PNG or JPEG "
            "to send it."
        )
    if kind == DOCX_MIME:
        raise err.RejectedError(
            "Care360 accepts only the older Word format (.doc), not .docx; save the document "
            "as PDF (or .doc) to send it."
        )
    if kind not in ALLOWED_MIME:
        raise err.RejectedError(
            f"Care360 does not accept files of type {kind or 'unknown'}; it takes PDF, Word "
            "(.doc), CSV, plain text, JPEG, PNG, SVG, TIFF and WebP."
        )


# ------------------------------------------------------------------ streamed JSON body


class LocalFileChanged(OSError):
    """The blob being sent ended early or changed size: the request must not complete."""


class Base64JsonBody:
    """``{"name":…,"mimeType":…,"caseId":…,"data":"<base64>"}`` produced piece by piece.

    The file is read in 3-byte-aligned chunks so the base64 pieces concatenate into one valid
    string; the exact length (``content_length``) is known from the file size alone, so the
    request carries a Content-Length (no chunked encoding, which some proxies refuse).
    Iterating again starts over (a resend after a refreshed token).
    """

    CHUNK = 3 * 256 * 1024  # 768 KiB of file -> 1 MiB of base64 per piece

    def __init__(
        self,
        path: Path,
        size: int,
        fields: Mapping[str, str],
        progress: Progress | None = None,
        chunk: int | None = None,
    ) -> None:
        if chunk is not None and (chunk <= 0 or chunk % 3):
            raise ValueError("chunk must be a positive multiple of 3")
        self.path = path
        self.size = size
        self.progress = progress
        self.chunk = chunk or self.CHUNK
        # ensure_ascii: every character is one byte, so the length below is exact.
        head = "{" + "".join(
            f"{json.dumps(key)}:{json.dumps(value, ensure_ascii=True)}," for key, value in
            fields.items()
        ) + '"data":"'
        self.head = head.encode("ascii")
        self.tail = b'"}'
        self.content_length = len(self.head) + 4 * math.ceil(size / 3) + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        sent = 0
        with open(self.path, "rb") as handle:
            while sent < self.size:
                piece = handle.read(min(self.chunk, self.size - sent))
                if not piece:
                    raise LocalFileChanged("the file ended before its recorded size")
                if len(piece) % 3 and sent + len(piece) < self.size:
                    # A short read mid-file (not the end): top it up to keep 3-byte alignment.
                    extra = handle.read(3 - len(piece) % 3)
                    piece += extra
                sent += len(piece)
                yield base64.b64encode(piece)
                if self.progress is not None:
                    self.progress(sent, self.size)
        if sent != self.size:
            raise LocalFileChanged("the file changed size while it was being sent")
        yield self.tail


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class Care360File:
    file_id: str
    file_name: str
    case_id: str | None
    created_at: str | None
    size: int | None = None
    mime_type: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str
    expires_in: float


def _shape_error(why: str, creates: bool = False) -> err.ProtocolError:
    return err.ProtocolError(
        "Care360's answer was not in the expected form, so nothing was applied "
        f"({why}).", retryable=False, outcome_unknown=creates,
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value if isinstance(value, str) else None


def parse_file(raw: Any, creates: bool = False) -> Care360File:
    if not isinstance(raw, Mapping):
        raise _shape_error("a file record is not an object", creates)
    file_id = _text(raw.get("id"))
    if not file_id:
        raise _shape_error("a file record has no id", creates)
    size = raw.get("fileSize", raw.get("size"))
    return Care360File(
        file_id=file_id,
        file_name=_text(raw.get("fileName")) or _text(raw.get("name")) or "document",
        case_id=_text(raw.get("caseId")),
        created_at=_text(raw.get("createdAt")),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        mime_type=_text(raw.get("mimeType")),
        raw=dict(raw),
    )


def _parse_tokens(data: Any, previous_refresh: str | None = None) -> Tokens:
    if not isinstance(data, Mapping):
        raise _shape_error("no token data")
    access = data.get("accessToken") or data.get("access_token")
    refresh = data.get("refreshToken") or data.get("refresh_token") or previous_refresh
    if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
        raise _shape_error("the answer holds no tokens")
    expires = data.get("expiresIn", data.get("expires_in"))
    if not isinstance(expires, (int, float)) or isinstance(expires, bool) or expires <= 0:
        expires = _jwt_lifetime(access) or ACCESS_TTL_DEFAULT
    return Tokens(access, refresh, float(expires))


def _jwt_lifetime(token: str) -> float | None:
    """Seconds until a JWT's ``exp`` (unverified: only used to schedule the refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return max(0.0, float(claims["exp"]) - time.time())
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _clean(text: str) -> str:
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def _envelope(body: Any) -> tuple[str | None, str | None]:
    """(error text, code) from an envelope, or from a FastAPI-style ``detail`` (proxies,
    the test fault layer)."""
    if not isinstance(body, Mapping):
        return None, None
    code = body.get("code") if isinstance(body.get("code"), str) else None
    error = body.get("error")
    if isinstance(error, Mapping):
        code = code or (error.get("code") if isinstance(error.get("code"), str) else None)
        error = error.get("message")
    if not isinstance(error, str):
        error = body.get("message") if isinstance(body.get("message"), str) else None
    if error is None and isinstance(body.get("detail"), str):
        error = body["detail"]
    return (_clean(error) or None) if error else None, code


def _safe_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


# ------------------------------------------------------------------ the client


class Care360Client:
    """Talks dialect 2 for one patient-portal account. Use as a context manager."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        user_id: str,
        *,
        refresh_token: str | None = None,
        on_rotate: RotateSink | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.user_id = user_id
        self._api_key = api_key
        self._refresh = refresh_token
        self._access: str | None = None
        self._access_until = 0.0
        self._on_rotate = on_rotate
        self._clock = clock
        self.refreshes = 0
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "CaseDesk"},
            verify=shared_tls_context(),
        )

    def __enter__(self) -> Care360Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # never the key or the tokens
        return f"Care360Client({self.base_url!r})"

    # -------------------------------------------------------------- sign-in

    def send_otp(self, email: str | None = None, phone: str | None = None) -> None:
        """Ask Care360 to send a one-time code by email or SMS."""
        body: dict[str, Any] = (
            {"email": email, "channel": "EMAIL"} if email else {"phoneNumber": phone,
                                                               "channel": "SMS"})
        self._unauthenticated(ROUTE_SEND_OTP, body)

    def verify_otp(self, code: str, email: str | None = None, phone: str | None = None) -> Tokens:
        """Exchange the 6-digit code for tokens (also kept in this client)."""
        body: dict[str, Any] = {"email": email} if email else {"phoneNumber": phone}
        body["code"] = code
        data = self._unauthenticated(ROUTE_VERIFY_OTP, body)
        tokens = _parse_tokens(data)
        self._adopt(tokens)
        return tokens

    def refresh(self) -> None:
        """Rotate the refresh token: the new one goes to ``on_rotate`` before the old one is
        forgotten. A refused refresh (reused, expired, revoked) is an AuthError."""
        if not self._refresh:
            raise err.AuthError("You are not signed in to Care360. Please sign in; your work "
                                "is kept.")
        try:
            data = self._unauthenticated(ROUTE_REFRESH, {"refresh_token": self._refresh})
        except err.RejectedError as exc:
            raise err.AuthError(
                "Care360 did not renew the sign-in"
                + (f" ({exc.detail})" if exc.detail else "")
                + ". Please sign in again; your work is kept.", status=exc.status,
                detail=exc.detail, route=ROUTE_REFRESH,
            ) from None
        tokens = _parse_tokens(data, previous_refresh=self._refresh)
        if tokens.refresh != self._refresh and self._on_rotate is not None:
            self._on_rotate(tokens.refresh)  # durable first ...
        self._adopt(tokens)  # ... then forget the old one
        self.refreshes += 1
        log.info("care360 access token renewed")

    def _adopt(self, tokens: Tokens) -> None:
        self._access, self._refresh = tokens.access, tokens.refresh
        self._access_until = self._clock() + tokens.expires_in

    def ensure_access(self) -> str:
        """A live access token, renewed first when missing or about to expire."""
        if self._access is None or self._clock() >= self._access_until - REFRESH_MARGIN:
            self.refresh()
        assert self._access is not None
        return self._access

    # -------------------------------------------------------------- files

    def upload_file(
        self,
        path: Path | str,
        name: str,
        mime: str,
        case_id: str | None = None,
        progress: Progress | None = None,
    ) -> Care360File:
        """Send one file as streamed base64 JSON; ``case_id`` (a UUID) attaches it to a case,
        without one it becomes a general document. Not idempotent: see the module notes."""
        check_upload(name, mime)
        if case_id is not None and not is_uuid(case_id):
            raise err.RejectedError("Care360 case ids are UUIDs; this case's id is not one.")
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError:
            raise err.SyncError("A file to send is missing or unreadable on this computer; "
                                "nothing was sent. Attach it again.") from None
        if size == 0:
            raise err.RejectedError("Care360 does not accept empty files.")
        fields = {"name": name, "mimeType": mime.split(";")[0].strip().lower()}
        if case_id is not None:
            fields["caseId"] = case_id

        def body() -> tuple[Any, dict[str, str]]:
            stream = Base64JsonBody(path, size, fields, progress)
            return stream, {"Content-Type": "application/json",
                            "Content-Length": str(stream.content_length)}

        data = self._authenticated("POST", ROUTE_UPLOAD, body=body, creates=True,
                                   timeout=upload_timeout(size))
        if not isinstance(data, Mapping):
            raise _shape_error("the upload answer holds no file", creates=True)
        return parse_file(data, creates=True)

    def list_files(self, case_id: str | None = None, kind: str | None = None) -> list[Care360File]:
        """``GET /me/files``, newest first. General documents are not listed (seed)."""
        params: dict[str, str] = {}
        if case_id is not None:
            params["caseId"] = case_id
        if kind is not None:
            params["type"] = kind
        data = self._authenticated("GET", ROUTE_FILES, params=params)
        files = data.get("files") if isinstance(data, Mapping) else data
        if files is None:
            return []
        if not isinstance(files, list):
            raise _shape_error("'files' is not a list")
        return [parse_file(f) for f in files]

    # -------------------------------------------------------------- plumbing

    def _unauthenticated(
        self, route: str, body: dict[str, Any]
    ) -> Any:
        response = self._send("POST", route, headers={}, json_body=body, creates=False)
        if response.is_success:
            return self._data(response, route, creates=False)
        raise self._status_error(response, "POST", route, creates=False)

    def _authenticated(
        self,
        method: str,
        route: str,
        *,
        params: dict[str, str] | None = None,
        body: Callable[[], tuple[Any, dict[str, str]]] | None = None,
        creates: bool = False,
        timeout: httpx.Timeout | None = None,
    ) -> Any:
        """One request with the Bearer token; on a 401 the token is renewed once and the
        request sent again (a 401 means the server did nothing, so resending is safe)."""
        for attempt in (1, 2):
            token = self.ensure_access()
            headers = {"Authorization": f"Bearer {token}"}
            content = None
            if body is not None:
                content, extra = body()
                headers.update(extra)
            response = self._send(method, route, headers=headers, params=params,
                                  content=content, creates=creates, timeout=timeout)
            if response.status_code == 401 and attempt == 1:
                log.info("%s %s -> 401; renewing the access token once", method, route)
                self._access = None
                continue
            if response.is_success:
                return self._data(response, route, creates)
            raise self._status_error(response, method, route, creates)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        route: str,
        *,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        content: Any = None,
        creates: bool,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        headers = {"cv-api-key": self._api_key, **headers}
        started = time.monotonic()
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        try:
            response = self._http.request(method, route, params=params or None, json=json_body,
                                          content=content, headers=headers, **extra)
        except httpx.HTTPError as exc:
            log.info("%s %s failed: %s", method, route, type(exc).__name__)
            raise self._transport_error(exc, method, route, creates) from None
        except OSError as exc:
            log.warning("%s %s: local file read failed: %s", method, route, type(exc).__name__)
            raise err.SyncError(
                "A file being sent could not be read from this computer (it changed or "
                "vanished); the server cannot have stored it. Attach it again.", route=route,
            ) from None
        level = logging.INFO if response.status_code >= 400 else logging.DEBUG
        log.log(level, "%s %s -> %d (%.0f ms)", method, route, response.status_code,
                (time.monotonic() - started) * 1000)
        return response

    def _data(self, response: httpx.Response, route: str, creates: bool) -> Any:
        body = _safe_json(response)
        if body is None:
            raise err.ProtocolError(
                "Care360's answer was cut off or unreadable"
                + ("; it may have stored this. Case Desk checks before sending it again."
                   if creates else ", so nothing was applied. It will be tried again."),
                status=response.status_code, route=route, outcome_unknown=creates,
            )
        if isinstance(body, Mapping) and body.get("success") is False:
            raise self._status_error(response, "POST", route, creates, body=body)
        if isinstance(body, Mapping) and "data" in body:
            return body["data"]
        raise _shape_error("no data in the answer", creates)

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
        detail, code = _envelope(body)
        common: dict[str, Any] = {"status": status, "detail": detail, "route": route}
        if status == 401:
            if code == "REFRESH_REUSED":
                return err.AuthError(
                    "Care360 saw an old sign-in being reused and ended this sign-in for "
                    "safety. Please sign in again; your work is kept.", **common)
            return err.AuthError(
                "Care360 did not accept the sign-in"
                + (f" ({detail.rstrip('.')})" if detail else "")
                + ". Please sign in again; your work is kept.", **common)
        if status == 403:
            extra = detail and "do not have access" not in detail.lower()
            return err.RejectedError(
                "Care360 says you do not have access to this case"
                + (f" ({detail.rstrip('.')})" if extra else "")
                + "; the document was set aside. Check that the case is the patient's own "
                "in Care360.", **common)
        if status == 404:
            return err.RemoteNotFound(**common)
        if status == 429 or status >= 500 or status == 408:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if creates and status >= 500 and not (status == 500 and code == "INTERNAL_ERROR"):
                # Not the documented rolled-back failure (a proxy, a crash): it may be stored.
                return err.ServerOutcomeUnknownError(
                    f"Care360 had a problem (error {status}) and may have stored this before "
                    "failing; Case Desk checks before sending it again.",
                    retry_after=retry_after, **common)
            return err.ServerError(
                f"Care360 is {'busy' if status in (429, 503) else 'having a problem'} "
                f"(error {status}); nothing was stored, and it will be tried again.",
                retry_after=retry_after, **common)
        if 300 <= status < 400:
            return err.ProtocolError(
                f"Care360 answered with a redirect (status {status}); check the server "
                "address.", retryable=False, **common)
        message = "Care360 refused this"
        message += f": {detail}" if detail else f" (error {status})"
        if not message.endswith("."):
            message += "."
        return err.RejectedError(message, **common)

    def _transport_error(
        self, exc: httpx.HTTPError, method: str, route: str, creates: bool
    ) -> err.SyncError:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return err.OfflineError(route=route)
        if isinstance(exc, httpx.PoolTimeout):
            return err.NetworkError(route=route)
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return err.SyncError("The Care360 address is not a valid web address; check it in "
                                 "the sign-in settings.", route=route)
        timed_out = isinstance(exc, httpx.TimeoutException)
        if route == ROUTE_REFRESH:
            # The server may have rotated the token while the answer was lost; trying again
            # with the old one either works or ends in REFRESH_REUSED (sign in again).
            return err.NetworkError("The connection broke while renewing the Care360 "
                                    "sign-in; it will be tried again.", route=route)
        if method == "GET" or not creates:
            return err.NetworkError(
                "Care360 took too long to answer; it will be tried again." if timed_out
                else None, route=route)
        lead = ("Care360 took too long to answer" if timed_out
                else "The connection to Care360 broke before it answered")
        return err.OutcomeUnknownError(
            f"{lead}; the file may or may not have been stored. Case Desk checks before "
            "sending it again.", route=route)
