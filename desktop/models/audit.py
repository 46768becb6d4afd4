"""The audit trail: every view, change, sign-in and sign-out, with who and when.

Each entry is appended in the same transaction as the action it records (an action that rolls
back leaves no entry; an entry never exists for an action that did not happen). Its ``chain``
is HMAC-SHA256 under the folder's audit key of the previous entry's chain and this entry's
canonical JSON (its id included), so an entry changed, removed or moved breaks every chain
after it; ``audit_head`` holds the last id and chain sealed with the same key, so entries cut
off the end are told too. The table lives inside the encrypted cache, and triggers refuse
UPDATE and DELETE.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.models.tables import AuditEntry, AuditHead, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64


class Action:
    """What an entry records (stored as text; new actions need no migration)."""

    VIEW = "view"
    CREATE = "create"
    EDIT = "edit"
    ATTACH = "attach"
    REMOVE = "remove"
    MOVE = "move"
    DELETE = "delete"
    RESTORE = "restore"  # a removal or deletion taken back before it reached the server
    ANALYZE = "analyze"
    EXPORT = "export"
    RESOLVE = "resolve_conflict"
    DISCARD = "discard_change"
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"


@cache
def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a service account): still recorded
        return "unknown"


@dataclass(frozen=True)
class Entry:
    """One entry, as read back (for the History tab and exports)."""

    id: int
    at: datetime
    action: str
    case_id: str | None
    document_id: str | None
    detail: dict[str, Any]
    os_user: str
    account: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "action": self.action,
                "case_id": self.case_id, "document_id": self.document_id,
                "detail": self.detail, "os_user": self.os_user, "account": self.account}


def _canonical(row: AuditEntry) -> bytes:
    at = row.at.replace(tzinfo=None).isoformat(timespec="microseconds")
    return json.dumps([row.id, at, row.action, row.case_id, row.document_id, row.detail or {},
                       row.os_user, row.account], sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, default=str).encode("ascii")


def _link(key: bytes, previous: str, row: AuditEntry) -> str:
    return hmac.new(key, previous.encode("ascii") + _canonical(row), hashlib.sha256).hexdigest()


def _seal(key: bytes, last_id: int, chain: str) -> str:
    return hmac.new(key, f"head:{last_id}:{chain}".encode("ascii"), hashlib.sha256).hexdigest()


# The last entry's id and chain, and the server account, in one read.
_STATE_SQL = (
    "SELECT h.last_id, h.last_chain, m.user_id, m.server_url FROM (SELECT 1) AS one "
    "LEFT JOIN audit_head AS h ON h.id = 1 LEFT JOIN sync_meta AS m ON m.id = 1")


def append(session: Session, key: bytes, action: str, case_id: str | None = None,
           document_id: str | None = None, **detail: Any) -> None:
    """Add one entry inside the caller's transaction (which must hold the write lock:
    ``Workspace.transaction``), chained to the last one. Three statements, no ORM unit of
    work: it rides on every local edit, whose budget is a few milliseconds."""
    last_id, last_chain, user_id, server_url = session.connection().exec_driver_sql(
        _STATE_SQL).one()
    account = (f"{user_id} at {server_url}" if server_url else user_id) if user_id else None
    # The id is chained too, so it is set here (the row is written once: no UPDATE).
    row = AuditEntry(id=(last_id or 0) + 1, at=utcnow(), action=action, case_id=case_id,
                     document_id=document_id, detail=_plain(detail) or None, os_user=os_user(),
                     account=account, chain="")
    row.chain = _link(key, last_chain or GENESIS, row)
    stored_at = row.at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ",
                                                                      timespec="microseconds")
    connection = session.connection()  # the driver's own SQL: built once, no per-call compile
    connection.exec_driver_sql(_INSERT, (
        row.id, stored_at, row.action, row.case_id, row.document_id,
        None if row.detail is None else json.dumps(row.detail), row.os_user, row.account,
        row.chain))
    connection.exec_driver_sql(_HEAD, (row.id, row.chain, _seal(key, row.id, row.chain)))


_INSERT = ("INSERT INTO audit_log (id, at, action, case_id, document_id, detail, os_user, "
           "account, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_HEAD = ("INSERT INTO audit_head (id, last_id, last_chain, seal) VALUES (1, ?, ?, ?) "
         "ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id, "
         "last_chain = excluded.last_chain, seal = excluded.seal")


def _plain(detail: dict[str, Any]) -> dict[str, Any]:
    """JSON as stored (dates as text), so what is chained is what is read back."""
    return json.loads(json.dumps(detail, default=str))


def verify(session: Session, key: bytes) -> list[str]:
    """What is wrong with the trail, in words (empty: every entry is as it was written, in
    its place, and none is missing)."""
    problems: list[str] = []
    previous, expected_id = GENESIS, 1
    last_id, last_chain = 0, GENESIS
    for row in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        if row.id != expected_id:
            problems.append(f"entries {expected_id} to {row.id - 1} are missing")
        if not hmac.compare_digest(_link(key, previous, row), row.chain or ""):
            problems.append(f"entry {row.id} ({row.action}, {row.at:%Y-%m-%d %H:%M}) was "
                            "changed, or entries before it were changed, removed or moved")
        previous, expected_id = row.chain or "", row.id + 1
        last_id, last_chain = row.id, row.chain or ""
        if len(problems) >= 50:
            problems.append("… and more")
            return problems
    head = session.get(AuditHead, 1)
    if head is None:
        if last_id:
            problems.append("the record of the trail's last entry is missing")
    elif head.last_id != last_id or head.last_chain != last_chain or not hmac.compare_digest(
            _seal(key, last_id, last_chain), head.seal):
        problems.append(f"the trail ends at entry {last_id}, but it last ended at entry "
                        f"{head.last_id}: entries were removed from its end, or its record "
                        "was changed")
    return problems


def entries(session: Session, case_id: str | None = None, since: datetime | None = None
            ) -> list[Entry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if case_id is not None:
        stmt = stmt.where(AuditEntry.case_id == case_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    return [Entry(r.id, r.at, r.action, r.case_id, r.document_id, dict(r.detail or {}),
                  r.os_user, r.account) for r in session.scalars(stmt)]
