"""Dialect 2: Care360 patient-portal files (docs/API.md), the envelope API of a Node service.

Every answer is `{"status", "success", "data" | "error", "code"}`. The upload body is JSON with
the file as base64 in `data`; it is parsed as a stream (the base64 is decoded straight to disk
while it arrives), so the benchmark's 1 GiB upload never sits in the server's memory either.
Test-only control lives under `/__admin/care360/` (exempt from faults, like the rest of admin).
"""

# No `from __future__ import annotations`, as in medmitra.py: FastAPI evaluates annotations.

import binascii
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from tests.server.care360_store import Care360Store, RefreshReused

PREFIX = "/api/v1/users"
ALLOWED_MIME = frozenset({
    "application/pdf", "application/msword", "text/csv", "text/plain", "image/jpeg",
    "image/png", "image/svg+xml", "image/tiff", "image/webp",
})
SKELETON_LIMIT = 64 * 1024
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CODE = re.compile(r"^\d{6}$")
_SPECIAL = re.compile(rb'["\\]')


class Care360Failure(Exception):
    """Raised inside a route; answered as the envelope by one handler."""

    def __init__(self, status: int, error: str, code: str = "VALIDATION_ERROR") -> None:
        super().__init__(error)
        self.status, self.error, self.code = status, error, code


def ok(data: Any) -> dict[str, Any]:
    return {"status": 200, "success": True, "data": data}


def _invalid(why: str = "Validation failed") -> Care360Failure:
    return Care360Failure(400, why)


@dataclass
class Care360Service:
    store: Care360Store

    def reset(self) -> None:
        self.store.reset()


# ---------------------------------------------------------------- streaming upload body


class UploadBodyParser:
    """Incremental parser for `{"name": ..., "data": "<base64>", ...}`.

    Everything except the value of `data` is kept as a small "skeleton" (with `data` left as
    an empty string) and parsed with `json.loads` at the end; the `data` string is decoded
    4 characters at a time into `sink` as it arrives, hashing as it goes.
    """

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.skeleton = bytearray()
        self.sha = hashlib.sha256()
        self.data_chars = 0
        self.data_seen = False
        self._in_data = False
        self._in_string = False
        self._escape = False
        self._data_escape = False
        self._depth = 0
        self._string = bytearray()
        self._last_string: bytes | None = None
        self._awaiting_data = False
        self._pending = b""
        self._padded = False

    def feed(self, chunk: bytes) -> None:
        i, n = 0, len(chunk)
        while i < n:
            if self._in_data:
                i = self._feed_data(chunk, i)
                continue
            byte = chunk[i]
            i += 1
            self.skeleton.append(byte)
            if len(self.skeleton) > SKELETON_LIMIT:
                raise _invalid()
            if self._in_string:
                if self._escape:
                    self._escape = False
                    self._string.append(byte)
                elif byte == 0x5C:  # backslash
                    self._escape = True
                    self._string.append(byte)
                elif byte == 0x22:  # closing quote
                    self._in_string = False
                    self._last_string = bytes(self._string) if self._depth == 1 else None
                else:
                    self._string.append(byte)
                continue
            if byte in b" \t\r\n":
                continue
            if byte == 0x22:
                if self._awaiting_data:
                    if self.data_seen:
                        raise _invalid()
                    self._awaiting_data, self._in_data, self.data_seen = False, True, True
                    continue
                self._in_string, self._string = True, bytearray()
                continue
            self._awaiting_data = False
            if byte in b"{[":
                self._depth += 1
            elif byte in b"}]":
                self._depth -= 1
            elif byte == 0x3A and self._depth == 1 and self._last_string == b"data":
                self._awaiting_data = True
            self._last_string = None

    def _feed_data(self, chunk: bytes, i: int) -> int:
        if self._data_escape:
            self._data_escape = False
            if chunk[i] != 0x2F:  # only "\/" can appear inside base64
                raise _invalid()
            self._decode(b"/")
            return i + 1
        match = _SPECIAL.search(chunk, i)
        end = match.start() if match else len(chunk)
        if end > i:
            self._decode(chunk[i:end])
        if match is None:
            return end
        if chunk[end] == 0x22:
            self._in_data = False
            self.skeleton.append(0x22)
        else:
            self._data_escape = True
        return end + 1

    def _decode(self, text: bytes) -> None:
        if self._padded:
            raise _invalid()
        self.data_chars += len(text)
        combined = self._pending + text if self._pending else text
        cut = len(combined) - len(combined) % 4
        if cut:
            try:
                raw = binascii.a2b_base64(combined[:cut], strict_mode=True)
            except binascii.Error:
                raise _invalid() from None
            self._padded = combined[cut - 1] == 0x3D
            self.sha.update(raw)
            self.sink.write(raw)
        self._pending = combined[cut:]

    def finish(self) -> dict[str, Any]:
        if self._in_data or self._in_string or self._pending:
            raise _invalid()
        try:
            body = json.loads(bytes(self.skeleton))
        except (ValueError, UnicodeDecodeError):
            raise _invalid() from None
        if not isinstance(body, dict):
            raise _invalid()
        return body


# ---------------------------------------------------------------- routes


def _identifier(body: dict[str, Any]) -> tuple[str, str]:
    email, phone = body.get("email"), body.get("phoneNumber")
    if (email is None) == (phone is None):
        raise _invalid()
    if email is not None:
        if not isinstance(email, str) or "@" not in email or len(email) > 254:
            raise _invalid()
        return email.strip().lower(), "EMAIL"
    if not isinstance(phone, str) or not re.fullmatch(r"\+?[0-9 ()-]{6,20}", phone):
        raise _invalid()
    return "+" + re.sub(r"\D", "", phone), "SMS"


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise _invalid() from None
    if not isinstance(body, dict):
        raise _invalid()
    return body


async def _drain(request: Request) -> None:
    async for _ in request.stream():
        pass


def build_care360_router(service: Care360Service) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    store = service.store

    def check_key(request: Request) -> None:
        key = request.headers.get("cv-api-key")
        if not key:
            raise _invalid("cv-api-key header is required")
        if key not in store.auth.api_keys:
            raise Care360Failure(401, "Invalid API key")

    def caller(request: Request) -> str:
        check_key(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        owner = store.owner_of_access(token.strip()) if scheme.lower() == "bearer" else None
        if owner is None:
            raise Care360Failure(401, "Invalid or expired token")
        return owner

    @router.post("/auth/send-otp")
    async def send_otp(request: Request) -> dict[str, Any]:
        check_key(request)
        body = await _json_body(request)
        to, channel = _identifier(body)
        if body.get("channel", channel) != channel:
            raise _invalid()
        store.issue_code(to)
        return ok({"sent": True, "channel": channel})

    @router.post("/auth/verify-otp")
    async def verify_otp(request: Request) -> dict[str, Any]:
        check_key(request)
        body = await _json_body(request)
        to, _channel = _identifier(body)
        code = body.get("code")
        if not isinstance(code, str) or not _CODE.match(code):
            raise _invalid()
        if not store.take_code(to, code):
            raise Care360Failure(401, "Invalid or expired code")
        tokens = store.issue_tokens(to)
        key = "email" if "@" in to else "phoneNumber"
        return ok({**tokens, "user": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, to)), key: to}})

    @router.post("/auth/refresh-token")
    async def refresh_token(request: Request) -> dict[str, Any]:
        check_key(request)
        body = await _json_body(request)
        token = body.get("refresh_token")
        if not isinstance(token, str) or not token:
            raise _invalid()
        try:
            tokens = store.rotate(token)
        except RefreshReused:
            raise Care360Failure(
                401, "Refresh token reuse detected; please sign in again", "REFRESH_REUSED"
            ) from None
        if tokens is None:
            raise Care360Failure(401, "Invalid or expired refresh token", "INVALID_REFRESH_TOKEN")
        return ok(tokens)

    @router.post("/me/files/upload")
    async def upload(request: Request) -> dict[str, Any]:
        try:
            owner = caller(request)
            if not request.headers.get("content-type", "").startswith("application/json"):
                raise _invalid()
        except Care360Failure:
            await _drain(request)  # answer only after the body, as a proxy would
            raise
        temp = store.blobs / f"incoming-{uuid.uuid4().hex}"
        try:
            with open(temp, "wb") as sink:
                parser = UploadBodyParser(sink)
                failure: Care360Failure | None = None
                async for chunk in request.stream():
                    if failure is None:  # after a failure, keep reading: answer after the body
                        try:
                            parser.feed(chunk)
                        except Care360Failure as exc:
                            failure = exc
                if failure is not None:
                    raise failure
                body = parser.finish()
            name, mime, case_id = body.get("name"), body.get("mimeType"), body.get("caseId")
            # Zod counts JavaScript string length: UTF-16 code units.
            if not isinstance(name, str) or not 1 <= len(name.encode("utf-16-le")) // 2 <= 255:
                raise _invalid()
            if not parser.data_seen or parser.data_chars == 0 or body.get("data") != "":
                raise _invalid()
            if mime not in ALLOWED_MIME:
                raise _invalid()
            if case_id is not None and (not isinstance(case_id, str) or not _UUID.match(case_id)):
                raise _invalid()
            if case_id is not None and not store.owns_case(owner, case_id):
                raise Care360Failure(403, "You do not have access to this case")
            row = store.add_file(owner, case_id.lower() if case_id else None, name, mime, temp,
                                 parser.sha.hexdigest())
            if row is None:
                raise Care360Failure(500, "Failed to upload file", "INTERNAL_ERROR")
        finally:
            temp.unlink(missing_ok=True)
        return ok({"id": row["id"], "fileName": row["file_name"], "isPHI": False,
                   "isRestricted": False, "caseId": row["case_id"],
                   "createdAt": row["created_at"]})

    @router.get("/me/files")
    def list_files(
        request: Request,
        caseId: Annotated[str | None, Query()] = None,  # noqa: N803 - the wire name
        type: Annotated[str | None, Query()] = None,  # noqa: A002 - the wire name
    ) -> dict[str, Any]:
        owner = caller(request)
        if caseId is not None and not _UUID.match(caseId):
            raise _invalid()
        if type not in (None, "phi", "general"):
            raise _invalid()
        rows = store.files(owner, caseId)
        if type == "phi":
            rows = []  # isPHI always starts false, and nothing here ever sets it
        return ok({"files": [
            {"id": r["id"], "fileName": r["file_name"], "mimeType": r["mime_type"],
             "fileSize": r["size"], "caseId": r["case_id"], "isPHI": False,
             "isRestricted": False, "createdAt": r["created_at"]}
            for r in rows
        ]})

    return router


def build_care360_admin_router(service: Care360Service) -> APIRouter:
    """`/__admin/care360/`: codes, token expiry, owned cases, storage failures, server view."""
    router = APIRouter(prefix="/__admin/care360")
    store = service.store

    @router.get("/otp")
    def otp(to: Annotated[str, Query()]) -> Any:
        key = to.strip().lower() if "@" in to else "+" + re.sub(r"\D", "", to)
        code = store.last_code(key)
        if code is None:
            return JSONResponse(status_code=404, content={"detail": "No code sent"})
        return {"code": code}

    @router.post("/expire-access")
    def expire_access() -> dict[str, Any]:
        store.expire_access()
        return {"ok": True}

    @router.post("/cases")
    def add_case(
        owner: Annotated[str, Body()], case_id: Annotated[str, Body()]
    ) -> dict[str, Any]:
        store.add_case(owner.strip().lower(), case_id)
        return {"ok": True}

    @router.post("/storage-failures")
    def storage_failures(n: Annotated[int, Body(embed=True)] = 1) -> dict[str, Any]:
        store.fail_storage(n)
        return {"ok": True}

    @router.post("/api-keys")
    def add_api_key(key: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
        store.auth.api_keys.add(key)
        return {"ok": True}

    @router.get("/files")
    def files(
        owner: Annotated[str | None, Query()] = None,
        include_deleted: Annotated[bool, Query()] = False,
    ) -> dict[str, Any]:
        """Every file, general documents included (the server's own view)."""
        return {"files": store.files(owner, include_general=True,
                                     include_deleted=include_deleted)}

    @router.get("/files/{file_id}/bytes")
    def file_bytes(file_id: str) -> Any:
        path: Path = store.blob_path(file_id)
        if not path.exists():
            return JSONResponse(status_code=404, content={"detail": "Not Found"})
        return FileResponse(path)

    return router


def install_care360_handlers(app: FastAPI) -> None:
    async def on_failure(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Care360Failure)
        return JSONResponse(
            status_code=exc.status,
            content={"status": exc.status, "success": False, "error": exc.error,
                     "code": exc.code},
        )

    app.add_exception_handler(Care360Failure, on_failure)


__all__ = [
    "Care360Service",
    "build_care360_admin_router",
    "build_care360_router",
    "install_care360_handlers",
]
