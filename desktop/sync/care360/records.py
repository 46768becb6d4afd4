"""Care360's records, tokens and envelope answers, read tolerantly.

A file record becomes the engine's :class:`RemoteFile` (Care360 has no download address and
no category); tokens come from either spelling; an envelope's error text and code are read
from ``error``/``message``/``code``, or a FastAPI-style ``detail`` (a proxy in between).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from desktop.sync import errors as err
from desktop.sync.http import clean_text
from desktop.sync.records import (
    SIZE_RANGE,
    RemoteFile,
    UnreadableRecord,
    check_depth,
    first_of,
    id_of,
    int_within,
    shape_error,
    text_of,
)

SERVER = "Care360"
ACCESS_TTL_DEFAULT = 15 * 60
DETAIL_LIMIT = 300


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str
    expires_in: float


def bad_shape(why: str, creates: bool = False) -> err.ProtocolError:
    return shape_error(SERVER, why, creates)


def parse_file(raw: Any, creates: bool = False) -> RemoteFile:
    """A file record; :class:`UnreadableRecord` (an unknown outcome on a create) for one that
    cannot be used."""
    try:
        if not isinstance(raw, Mapping):
            raise UnreadableRecord("file", "it is not an object")
        file_id = id_of(raw.get("id"))
        if not file_id:
            raise UnreadableRecord("file", "it has no usable id")
        check_depth(raw, "file")
        size = int_within(first_of(raw, "fileSize", "size"), SIZE_RANGE, "file", "file size")
    except UnreadableRecord as exc:
        exc.outcome_unknown = creates
        raise
    return RemoteFile(
        file_id=file_id,
        case_id=id_of(raw.get("caseId")),
        file_name=text_of(raw.get("fileName")) or text_of(raw.get("name")) or "document",
        file_type=text_of(raw.get("mimeType")),
        file_size=size,
        file_url=None,  # Care360 offers no download of a file's bytes
        file_category=None,
        uploaded_at=text_of(raw.get("createdAt")),
        raw=dict(raw),
    )


def parse_tokens(data: Any, previous_refresh: str | None = None) -> Tokens:
    if not isinstance(data, Mapping):
        raise bad_shape("no token data")
    access = data.get("accessToken") or data.get("access_token")
    refresh = data.get("refreshToken") or data.get("refresh_token") or previous_refresh
    if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
        raise bad_shape("the answer holds no tokens")
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


def envelope(body: Any) -> tuple[str | None, str | None]:
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
    return (clean_text(error, DETAIL_LIMIT) or None) if error else None, code
