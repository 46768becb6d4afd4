"""HTTP client for dialect 2, Care360 patient-portal files (docs/API.md in the shared folder).

Why it looks the way it does:

- Every request carries the organisation's ``cv-api-key``; authenticated ones a 15-minute access
  JWT. The client refreshes it shortly before it expires and once on a 401, and the refresh
  token *rotates*: the new one is handed to ``on_rotate`` (which writes it to the keychain)
  before the client forgets the old one.
- The upload is streamed base64 JSON (``upload.Base64JsonBody``): memory stays flat.
- Envelope answers map to the typed errors of ``desktop.sync.errors``. A documented
  ``500 INTERNAL_ERROR`` on upload is *not* outcome-unknown: the server soft-deletes its row
  before answering, so a retry cannot duplicate. A dropped connection or timeout after the body
  is outcome-unknown: the engine reconciles through ``GET /me/files`` first.

Logs carry the method, the route template and the status only: never the key, tokens, the
email/phone, case ids or file names.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from desktop.sync import errors as err
from desktop.sync.care360.records import (
    SERVER,
    Tokens,
    bad_shape,
    envelope,
    parse_file,
    parse_tokens,
)
from desktop.sync.care360.upload import Base64JsonBody, check_upload, is_uuid, upload_timeout
from desktop.sync.http import (
    ANSWER_LIMIT,
    DEFAULT_TIMEOUT,
    REQUEST_DEADLINE,
    Answer,
    DeadlineExceeded,
    Progress,
    Sendable,
    TooLarge,
    TooSlow,
    limit,
    log_answer,
    new_http_client,
    parse_retry_after,
    safe_json,
    send_bounded,
    size_of,
    too_large,
    transfer_deadline,
    transport_error,
)
from desktop.sync.records import CaseDetail, RemoteFile, UnreadableRecord, usable

log = logging.getLogger(__name__)

RotateSink = Callable[[str], None]

PREFIX = "/api/v1/users"
ROUTE_SEND_OTP = f"{PREFIX}/auth/send-otp"
ROUTE_VERIFY_OTP = f"{PREFIX}/auth/verify-otp"
ROUTE_REFRESH = f"{PREFIX}/auth/refresh-token"
ROUTE_UPLOAD = f"{PREFIX}/me/files/upload"
ROUTE_FILES = f"{PREFIX}/me/files"
REFRESH_MARGIN = 60.0  # refresh this many seconds before the access token expires


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
        self._http = new_http_client(self.base_url, timeout=timeout, transport=transport)

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
        tokens = parse_tokens(data)
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
        tokens = parse_tokens(data, previous_refresh=self._refresh)
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
        path: Sendable | str,
        name: str,
        mime: str,
        case_id: str | None = None,
        progress: Progress | None = None,
    ) -> RemoteFile:
        """Send one file as streamed base64 JSON; ``case_id`` (a UUID) attaches it to a case,
        without one it becomes a general document. Not idempotent: see the module notes."""
        check_upload(name, mime)
        if case_id is not None and not is_uuid(case_id):
            raise err.RejectedError("Care360 case ids are UUIDs; this case's id is not one.")
        path = Path(path) if isinstance(path, str) else path
        size = size_of(path)  # a stored document: read and checked whole first
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
                                   timeout=upload_timeout(size),
                                   seconds=transfer_deadline(size * 4 // 3))
        if not isinstance(data, Mapping):
            raise bad_shape("the upload answer holds no file", creates=True)
        return parse_file(data, creates=True)

    def list_files(self, case_id: str | None = None, kind: str | None = None) -> list[RemoteFile]:
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
            raise bad_shape("'files' is not a list")
        set_aside: list[UnreadableRecord] = []
        listed = usable(parse_file, files, set_aside)
        for exc in set_aside:  # the reason names fields only, never values
            log.warning("%s record set aside: %s", exc.what, exc.reason)
        return listed

    def case_detail(self, server_id: str, numeric_id: str | None = None) -> CaseDetail:
        """A linked case's files as Care360 lists them; Care360 keeps no case record or
        insights of its own."""
        return CaseDetail(None, self.list_files(case_id=server_id), None)

    def download_chunks(
        self, file_url: str | None, progress: Progress | None = None,
        declared: int | None = None,
    ) -> Iterator[bytes]:
        """Care360's API has no route that hands out a file's bytes (only the portal shows
        them), so a file that is only there cannot be downloaded here."""
        raise err.NotOffered(
            "Care360 does not let other programs download its documents; open this one in "
            "the Care360 portal.")

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
        seconds: float = REQUEST_DEADLINE,
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
                                  content=content, creates=creates, timeout=timeout,
                                  seconds=seconds)
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
        seconds: float = REQUEST_DEADLINE,
    ) -> Answer:
        headers = {"cv-api-key": self._api_key, **headers}
        started = time.monotonic()
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        try:
            response = send_bounded(
                self._http, method, route, cap=int(limit("answer", ANSWER_LIMIT)),
                seconds=seconds, params=params or None, json=json_body, content=content,
                headers=headers, **extra)
        except TooLarge as exc:
            log.info("%s %s: answer over %d bytes", method, route, exc.cap)
            raise too_large(exc, creates=creates, server=SERVER, route=route) from None
        except httpx.HTTPError as exc:
            log.info("%s %s failed: %s", method, route, type(exc).__name__)
            raise self._transport_error(exc, method, route, creates) from None
        except OSError as exc:
            log.warning("%s %s: local file read failed: %s", method, route, type(exc).__name__)
            raise err.SyncError(
                "A file being sent could not be read from this computer (it changed or "
                "vanished); the server cannot have stored it. Attach it again.", route=route,
            ) from None
        log_answer(log, method, route, response.status_code, started)
        return response

    def _data(self, response: Answer, route: str, creates: bool) -> Any:
        body = safe_json(response)
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
        raise bad_shape("no data in the answer", creates)

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
        detail, code = envelope(body)
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
        if route == ROUTE_REFRESH and not isinstance(exc, (
            httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
            httpx.UnsupportedProtocol, httpx.InvalidURL, DeadlineExceeded, TooSlow,
        )):
            # The server may have rotated the token while the answer was lost; trying again
            # with the old one either works or ends in REFRESH_REUSED (sign in again).
            return err.NetworkError("The connection broke while renewing the Care360 "
                                    "sign-in; it will be tried again.", route=route)
        return transport_error(exc, route=route, repeatable=method == "GET" or not creates,
                               creates=creates, server=SERVER)
