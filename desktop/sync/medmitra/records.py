"""MedMitra's records and error bodies, read tolerantly (docs/API.md in the shared folder).

Both field spellings of the deployed backend are accepted (``user_id``/``doctor_id``,
``uploaded_at``/``upload_date``), ids are opaque text, unknown status values are kept, and a
record without any id is the only shape error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from desktop.sync import errors as err
from desktop.sync.http import clean_text
from desktop.sync.records import (
    AGE_RANGE,
    MAX_ID_LENGTH,
    SIZE_RANGE,
    RemoteCase,
    RemoteFile,
    UnreadableRecord,
    check_depth,
    first_of,
    id_of,
    int_within,
    shape_error,
    text_of,
)

DETAIL_LIMIT = 400
SERVER = "The server"


def case_stamp(raw: Any) -> tuple[str, str | None]:
    """(server id, updated_at) of a case record, read the way :func:`parse_case` reads them;
    :class:`UnreadableRecord` (with the id when there is one) for a record that cannot be."""
    if type(raw) is dict:  # the usual shape, checked without the general conversions
        server_id, updated = raw.get("case_id"), raw.get("updated_at")
        if type(server_id) is str and server_id.strip() == server_id and server_id and (
            updated is None or type(updated) is str
        ) and len(server_id) <= MAX_ID_LENGTH and server_id.isprintable():
            return server_id, updated
    server_id = _case_id(raw)
    return server_id, text_of(raw.get("updated_at"))


def _case_id(raw: Any) -> str:
    if not isinstance(raw, Mapping):
        raise UnreadableRecord("case", "it is not an object")
    server_id = id_of(raw.get("case_id")) or id_of(raw.get("id"))
    if server_id is None:
        raise UnreadableRecord("case", "it has no usable id")
    try:
        check_depth(raw, "case")
    except UnreadableRecord as exc:
        exc.server_id = server_id
        raise
    return server_id


def parse_case(raw: Any) -> RemoteCase:
    """A case record in either spelling; :class:`UnreadableRecord` when it has no usable id
    or a value that cannot be taken (an age out of range, nesting too deep)."""
    if type(raw) is dict:
        usual = _usual_case(raw)
        if usual is not None:
            return usual
    server_id = _case_id(raw)
    numeric_id = id_of(raw.get("id")) if "case_id" in raw else None
    if numeric_id is not None and not numeric_id.lstrip("-").isdigit():
        numeric_id = None
    try:
        age = int_within(raw.get("patient_age"), AGE_RANGE, "case", "patient age")
    except UnreadableRecord as exc:
        exc.server_id = server_id
        raise
    return RemoteCase(
        server_id=server_id,
        numeric_id=numeric_id,
        user_id=id_of(first_of(raw, "user_id", "doctor_id")),
        patient_name=text_of(raw.get("patient_name")),
        patient_age=age,
        patient_gender=text_of(raw.get("patient_gender")),
        case_summary=text_of(raw.get("case_summary")),
        status=text_of(raw.get("status")),
        created_at=text_of(raw.get("created_at")),
        updated_at=text_of(raw.get("updated_at")),
        raw=dict(raw),
    )


_TEXT_FIELDS = ("patient_name", "patient_gender", "case_summary", "status", "created_at",
                "updated_at")


def _plain_id(value: Any) -> bool:
    return (type(value) is str and 0 < len(value) <= MAX_ID_LENGTH
            and value.strip() == value and value.isprintable())


def _usual_case(raw: dict[str, Any]) -> RemoteCase | None:
    """The record of the usual shape read without the general conversions (a first sync
    parses every record): exactly what :func:`parse_case` makes of it, or None to take that
    path (any other type or spelling, a value to convert or refuse)."""
    server_id, numeric, user_id = raw.get("case_id"), raw.get("id"), raw.get("user_id")
    if user_id is None:
        user_id = raw.get("doctor_id")
    age = raw.get("patient_age")
    if not (_plain_id(server_id) and (numeric is None or (
            type(numeric) is int and abs(numeric) <= 2**63))
            and (user_id is None or _plain_id(user_id))
            and (age is None or (type(age) is int and AGE_RANGE[0] <= age <= AGE_RANGE[1]))):
        return None
    name, gender, summary, status, created, updated = (raw.get(f) for f in _TEXT_FIELDS)
    for value in (name, gender, summary, status, created, updated):
        if value is not None and type(value) is not str:
            return None
    return RemoteCase(server_id=server_id,
                      numeric_id=None if numeric is None else str(numeric),
                      user_id=user_id, patient_name=name, patient_age=age,
                      patient_gender=gender, case_summary=summary, status=status,
                      created_at=created, updated_at=updated, raw=raw)


def resolve_url(base_url: str, url: str | None) -> str | None:
    """Absolute URLs stay; ``/files/1/x.pdf`` and ``lab_files/<case>/x.pdf`` both hang off
    the server base URL (keeping any path prefix it has, as API routes do)."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)  # ValueError for what is no address at all ("http://[::1/x")
    _ = parts.port  # ValueError for a port that is no number
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if url.startswith("//"):
        return f"{urlsplit(base_url).scheme}:{url}"
    return base_url.rstrip("/") + "/" + url.lstrip("/")


def parse_file(raw: Any, base_url: str, case_id: str | None = None) -> RemoteFile:
    """A file record; :class:`UnreadableRecord` for one that cannot be used."""
    if not isinstance(raw, Mapping):
        raise UnreadableRecord("file", "it is not an object")
    file_id = id_of(first_of(raw, "file_id", "id"))
    if file_id is None:
        raise UnreadableRecord("file", "it has no usable id")
    try:
        check_depth(raw, "file")
        size = int_within(raw.get("file_size"), SIZE_RANGE, "file", "file size")
        try:
            url = resolve_url(base_url, text_of(raw.get("file_url")))
        except ValueError:
            raise UnreadableRecord("file", "its download address is not a web address") from None
    except UnreadableRecord as exc:
        exc.server_id = file_id
        raise
    return RemoteFile(
        file_id=file_id,
        case_id=id_of(raw.get("case_id")) or case_id,
        file_name=text_of(raw.get("file_name")) or "document",
        file_type=text_of(raw.get("file_type")),
        file_size=size,
        file_url=url,
        file_category=text_of(raw.get("file_category")),
        uploaded_at=text_of(first_of(raw, "uploaded_at", "upload_date")),
        raw=dict(raw),
    )


def bad_shape(why: str, creates: bool = False) -> err.ProtocolError:
    return shape_error(SERVER, why, creates)


def list_of(payload: Mapping[str, Any], key: str) -> list[Any]:
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_shape(f"'{key}' is not a list")
    return value


# ------------------------------------------------------------------ error bodies


def _clean(text: str) -> str:
    return clean_text(text, DETAIL_LIMIT)


def _field_name(loc: Any) -> str:
    if isinstance(loc, (list, tuple)):
        parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "header")]
        return ".".join(parts) or ".".join(str(p) for p in loc)
    return str(loc) if loc is not None else ""


def detail_of(body: Any) -> tuple[str | None, tuple[tuple[str, str], ...]]:
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


def int_id_refused(body: Any) -> bool:
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
