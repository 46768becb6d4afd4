"""The push's usual writes in a few plain statements instead of through the ORM.

Almost every queued change meets the plain case: a new case comes back as it was sent, an
edit meets a server copy that is exactly the base held here and an answer that shows every
sent value applied, a file is stored. For those the ORM's loading, flushing and re-loading
cost more than the requests' own client time (an edit: 14 ms, against 2 ms per request).
Here each is a handful of statements on the transaction's connection.

Only the plain case is handled. Anything else (a value new on the server, a dirty field the
server already shows, a case the server had lost, an answer that ignored or replaced a value,
a field written meanwhile, a create edited while it was out) returns None or False with
nothing written, and the engine takes the full way. Both ways leave the same rows:
``tests/e2e/test_plain_writes.py`` runs them side by side.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.orm import Session

from desktop.models.tables import (
    CASE_FIELDS,
    EDITABLE_FIELDS,
    Case,
    Conflict,
    Document,
    DocumentState,
    PendingChange,
    SyncState,
    utcnow,
)
from desktop.sync.merge import same_value
from desktop.sync.records import RemoteCase, RemoteFile, remote_fields
from desktop.workspace import settle_sync_state_of

# Built once: building a statement costs more than running it.
_cases = Case.__table__
_changes = PendingChange.__table__
_conflicts = Conflict.__table__
_documents = Document.__table__

_READ_SENT = select(*(_cases.c[f] for f in EDITABLE_FIELDS)).where(
    _cases.c.id == bindparam("case_id"))
_LINK = _cases.update().where(_cases.c.id == bindparam("case_id")).values(
    server_id=bindparam("server_id"), numeric_id=bindparam("numeric_id"),
    server_created_at=bindparam("server_created_at"),
    server_updated_at=bindparam("server_updated_at"), base=bindparam("base"),
    detail_stale=False, files_checked_at=bindparam("checked_at"))

_CASE = select(
    _cases.c.base, _cases.c.server_updated_at, _cases.c.numeric_id, _cases.c.detail_stale,
    _cases.c.sync_state, *(_cases.c[f] for f in CASE_FIELDS),
).where(_cases.c.id == bindparam("case_id"))
_CHANGE = select(_changes.c.fields).where(_changes.c.id == bindparam("change_id"))
_BLOCKED = select(_conflicts.c.field).where(
    _conflicts.c.case_id == bindparam("case_id"), _conflicts.c.resolved_at.is_(None))
_MARK = update(_changes).where(_changes.c.id == bindparam("change_id")).values(
    in_flight=True, payload=bindparam("payload"), attempts=_changes.c.attempts + 1)
_DONE = delete(_changes).where(_changes.c.id == bindparam("change_id"))
_DOCUMENT_CASE = select(_documents.c.case_id).where(_documents.c.id == bindparam("doc_id"))


def link_plain_create(
    s: Session, change_id: int, case_id: str, payload: dict[str, Any], remote: RemoteCase
) -> bool:
    """The usual create's answer (a case without files, its values as sent): what
    ``MedMitraEngine._adopt_created`` does (``link_case``, the change cleared, the files
    counted as checked, the state settled). False, with nothing written, when it is not that
    case."""
    row = s.execute(_READ_SENT, {"case_id": case_id}).first()
    if row is None:
        return False
    sent = payload.get("fields", {})
    if any(f in sent and not same_value(row._mapping[f], getattr(remote, f))
           for f in EDITABLE_FIELDS):
        return False  # edited meanwhile: an update is queued on the usual path
    conn = s.connection()
    conn.execute(_DONE, {"change_id": change_id})
    conn.execute(_LINK, {
        "case_id": case_id, "server_id": remote.server_id, "numeric_id": remote.numeric_id,
        "server_created_at": remote.created_at, "server_updated_at": remote.updated_at,
        "base": remote_fields(remote), "checked_at": utcnow()})
    settle_sync_state_of(conn, case_id)
    return True


def mark_plain_update(
    conn: Connection, change_id: int, case_id: str, read: RemoteCase
) -> dict[str, Any] | None:
    """The values to send, marked in flight in the caller's transaction, when *read* (the
    server's copy, read right before the write) is exactly the base held here and no dirty
    field already shows on the server. ``{}``: nothing to send now (every dirty field has an
    open conflict). None: not plain; nothing was written, merge the full way."""
    row = conn.execute(_CASE, {"case_id": case_id}).one_or_none()
    fields = conn.execute(_CHANGE, {"change_id": change_id}).scalar_one_or_none()
    if row is None or fields is None or not row.base:
        return None
    if row.sync_state == SyncState.REMOVED_REMOTELY:
        return None  # listed again: the full merge sets it back to pending
    base: Mapping[str, Any] = row.base
    theirs = remote_fields(read)
    if any(name not in base or base[name] != value for name, value in theirs.items()):
        return None  # the server holds something this workstation has not seen
    mine = row._mapping
    if any(f in theirs and same_value(mine[f], theirs[f]) for f in fields):
        return None  # a dirty field the server already shows: settled by the merge
    # What the full merge leaves on the case when the server showed nothing new.
    seen: dict[str, Any] = {"server_updated_at": read.updated_at, "detail_stale": True}
    if read.numeric_id:
        seen["numeric_id"] = read.numeric_id
    changed = {k: v for k, v in seen.items() if mine[k] != v}
    if changed:
        conn.execute(update(_cases).where(_cases.c.id == case_id).values(changed))
    settle_sync_state_of(conn, case_id)
    blocked = set(conn.execute(_BLOCKED, {"case_id": case_id}).scalars())
    values = {f: mine[f] for f in fields if f in EDITABLE_FIELDS and f not in blocked}
    if values:
        conn.execute(_MARK, {"change_id": change_id, "payload": {"values": values}})
    return values


def record_plain_update(
    conn: Connection, change_id: int, case_id: str, values: Mapping[str, Any],
    echo: RemoteCase, shown: Collection[str],
) -> bool:
    """Record an answer that applied every sent value, with nothing else written meanwhile:
    the base takes what the server shows, the change is cleared of what was sent (a field
    edited again since stays dirty), and the case's state is settled. False: the case is gone
    here; nothing was written."""
    row = conn.execute(_CASE, {"case_id": case_id}).one_or_none()
    if row is None:
        return False
    base = dict(row.base or {})
    for name in values:
        base[name] = getattr(echo, name) if name in shown else values[name]
    written: dict[str, Any] = {"base": base}
    if echo.numeric_id:
        written["numeric_id"] = echo.numeric_id
    conn.execute(update(_cases).where(_cases.c.id == case_id).values(written))
    fields = conn.execute(_CHANGE, {"change_id": change_id}).scalar_one_or_none()
    if fields is not None:
        mine = row._mapping
        remaining = [f for f in fields if f not in values or mine[f] != values[f]]
        if remaining:
            conn.execute(update(_changes).where(_changes.c.id == change_id).values(
                fields=remaining, in_flight=False, payload=None))
        else:
            conn.execute(_DONE, {"change_id": change_id})
    settle_sync_state_of(conn, case_id)
    return True


def record_upload(conn: Connection, change_id: int, doc_id: str, remote: RemoteFile,
                  note: str | None) -> None:
    """The server holds the document: link it, clear the change, settle its case."""
    case_id = conn.execute(_DOCUMENT_CASE, {"doc_id": doc_id}).scalar_one_or_none()
    if case_id is not None:
        linked: dict[str, Any] = {
            "server_file_id": remote.file_id, "file_url": remote.file_url,
            "uploaded_at": remote.uploaded_at, "state": DocumentState.UPLOADED, "error": note}
        if remote.file_category in ("lab", "radiology"):
            linked["category"] = remote.file_category
        conn.execute(update(_documents).where(_documents.c.id == doc_id).values(linked))
    conn.execute(_DONE, {"change_id": change_id})
    if case_id is not None:
        settle_sync_state_of(conn, case_id)
