"""The common update, written in a few plain statements instead of through the ORM.

Almost every queued edit meets a server copy that is exactly the base this workstation holds
(nobody else wrote the case since the last pull), and an answer that shows every sent value
applied. For those two moments the ORM's loading, flushing and re-loading cost about three
times the requests' own client time (14 ms per edit, against 2 ms per request). Here each is
a handful of statements on the transaction's connection.

Only that plain case is handled: anything else (a value that is new on the server, a dirty
field the server already shows, a case the server had lost, an answer that ignored or replaced
a value, or a field written meanwhile) returns None, and the engine merges and records it the
full way. Both ways leave the same rows; ``tests/e2e/test_plain_update.py`` holds them side by
side.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update

from desktop.models.tables import (
    CASE_FIELDS,
    EDITABLE_FIELDS,
    Case,
    Conflict,
    PendingChange,
    SyncState,
)
from desktop.sync.merge import same_value
from desktop.sync.records import RemoteCase
from desktop.workspace import derived_sync_state

_cases = Case.__table__
_changes = PendingChange.__table__
_conflicts = Conflict.__table__

_CASE = select(
    _cases.c.base, _cases.c.server_updated_at, _cases.c.numeric_id, _cases.c.detail_stale,
    _cases.c.sync_state, _cases.c.sync_error, *(_cases.c[f] for f in CASE_FIELDS),
).where(_cases.c.id == bindparam("case_id"))
_CHANGE = select(_changes.c.fields).where(_changes.c.id == bindparam("change_id"))
_BLOCKED = select(_conflicts.c.field).where(
    _conflicts.c.case_id == bindparam("case_id"), _conflicts.c.resolved_at.is_(None))
_STATES = select(_changes.c.state).where(_changes.c.case_id == bindparam("case_id"))
_MARK = update(_changes).where(_changes.c.id == bindparam("change_id")).values(
    in_flight=True, payload=bindparam("payload"), attempts=_changes.c.attempts + 1)
_DONE = delete(_changes).where(_changes.c.id == bindparam("change_id"))


def mark_plain(
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
    theirs = {name: getattr(read, name) for name in CASE_FIELDS}
    if any(name not in base or base[name] != value for name, value in theirs.items()):
        return None  # the server holds something this workstation has not seen
    mine = row._mapping
    if any(f in theirs and same_value(mine[f], theirs[f]) for f in fields):
        return None  # a dirty field the server already shows: settled by the merge
    blocked = set(conn.execute(_BLOCKED, {"case_id": case_id}).scalars())
    # What the full merge leaves on the case when the server showed nothing new.
    seen: dict[str, Any] = {"server_updated_at": read.updated_at, "detail_stale": True}
    if read.numeric_id:
        seen["numeric_id"] = read.numeric_id
    seen.update(_settled(conn, case_id, bool(blocked), row.sync_state, row.sync_error))
    changed = {k: v for k, v in seen.items() if mine[k] != v}
    if changed:
        conn.execute(update(_cases).where(_cases.c.id == case_id).values(changed))
    values = {f: mine[f] for f in fields if f in EDITABLE_FIELDS and f not in blocked}
    if values:
        conn.execute(_MARK, {"change_id": change_id, "payload": {"values": values}})
    return values


def record_plain(
    conn: Connection, change_id: int, case_id: str, values: Mapping[str, Any],
    echo: RemoteCase, shown: Collection[str],
) -> bool:
    """Record an answer that applied every sent value, with nothing else written meanwhile:
    the base takes what the server shows, the change is cleared of what was sent (a field
    edited again since stays dirty), and the case's state is derived again. False: the case
    is gone here; nothing was written."""
    row = conn.execute(_CASE, {"case_id": case_id}).one_or_none()
    if row is None:
        return False
    base = dict(row.base or {})
    for name in values:
        base[name] = getattr(echo, name) if name in shown else values[name]
    written: dict[str, Any] = {"base": base}
    if echo.numeric_id:
        written["numeric_id"] = echo.numeric_id
    fields = conn.execute(_CHANGE, {"change_id": change_id}).scalar_one_or_none()
    if fields is not None:
        mine = row._mapping
        remaining = [f for f in fields if f not in values or mine[f] != values[f]]
        if remaining:
            conn.execute(update(_changes).where(_changes.c.id == change_id).values(
                fields=remaining, in_flight=False, payload=None))
        else:
            conn.execute(_DONE, {"change_id": change_id})
    open_conflicts = conn.execute(select(func.count()).select_from(_conflicts).where(
        _conflicts.c.case_id == case_id, _conflicts.c.resolved_at.is_(None))).scalar_one()
    written.update(_settled(conn, case_id, bool(open_conflicts), row.sync_state, row.sync_error))
    conn.execute(update(_cases).where(_cases.c.id == case_id).values(written))
    return True


def _settled(conn: Connection, case_id: str, conflicted: bool, state: str,
             error: str | None) -> dict[str, Any]:
    """The case's sync state (and error) as ``settle_sync_state`` derives it."""
    if state == SyncState.REMOVED_REMOTELY:
        return {}
    states = list(conn.execute(_STATES, {"case_id": case_id}).scalars())
    new_state, keeps_error = derived_sync_state(conflicted, states)
    return {"sync_state": new_state, "sync_error": error if keeps_error else None}
