"""Removals, deletions and analyses on the shared outbox engine, for any server kind that
offers the routes (a kind passes its client's calls; Care360 offers none and leaves them out
of its ``senders()``: they stay queued and are counted).

Exactly once, each of them:

- **A document's removal** is a DELETE of its server file. A 404 counts as done (a re-send
  after a lost answer, or removed elsewhere). One whose upload's outcome was unknown is first
  looked for on the server (by name and size). The source of a move waits until its copy is
  on the target case on the server: the server holds the file on the target before it
  leaves the source, whatever is interrupted. Once done, the row stays as a bare tombstone
  (no bytes kept) for a day, so a file list read before the removal cannot bring it back.
- **A case's deletion** first reads the server's copy: a case changed there since it was
  deleted here (fields, or files this computer never saw) is not deleted but becomes a
  conflict for the person, as the reverse (changed here, deleted there) does in the pull. A
  case whose create's outcome was unknown is first looked for. 404 counts as done.
- **An analysis** is asked for once: a request whose answer was lost is looked for on the
  server (the case shows an analysis under way) before it is sent again. The answer is
  merged like a pull, so the case shows its analysis state at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from desktop.models.tables import (
    CASE_FIELDS,
    Case,
    ChangeKind,
    ChangeState,
    Conflict,
    Document,
    DocumentState,
    PendingChange,
    utcnow,
)
from desktop.sync import errors as err
from desktop.sync.merge import same_value
from desktop.sync.pull import link_case, merge_cases
from desktop.sync.reconcile import find_sent_file
from desktop.sync.records import CaseDetail, RemoteCase, RemoteFile, remote_fields
from desktop.workspace import ANALYSIS_RUNNING, DELETION, settle_sync_state

if TYPE_CHECKING:
    from desktop.sync.outbox import OutboxEngine

log = logging.getLogger(__name__)

# A removed document's bare tombstone guards against a stale file list this long.
TOMBSTONE_KEEP = timedelta(days=1)
CHANGED_THERE = ("Not deleted: the case was changed on the server after it was deleted here. "
                 "Keep yours (delete it anyway) or take theirs (keep the case).")

ListFiles = Callable[[str, str | None], list[RemoteFile]]
DeleteFile = Callable[[str, str, str | None], Any]
ReadCase = Callable[[str, str | None], CaseDetail]
DeleteCase = Callable[[str, str | None], Any]
FindCreated = Callable[[dict[str, Any]], RemoteCase | None]
Analyze = Callable[[str, str | None], RemoteCase]


# ---------------------------------------------------------------- a document's removal


def send_document_removal(engine: OutboxEngine, change_id: int, *, list_files: ListFiles,
                          delete_file: DeleteFile) -> None:
    with engine.ws.sessions() as s:
        change = s.get(PendingChange, change_id)
        if change is None:
            return
        doc = s.get(Document, change.document_id) if change.document_id else None
        case = s.get(Case, change.case_id)
        if doc is None or case is None or doc.removed_at is None:
            s.delete(change)  # nothing left to remove
            s.commit()
            return
        if doc.moved_to_id is not None:
            copy = s.get(Document, doc.moved_to_id)
            if copy is not None and copy.server_file_id is None:
                return  # waits: the copy is not on the target case on the server yet
        if case.server_id is None:
            return  # waits for its case's create (which may have carried the file)
        server_id, numeric_id, case_id = case.server_id, case.numeric_id, case.id
        file_id, name, size, doc_id = doc.server_file_id, doc.name, doc.size, doc.id
    if file_id is None:
        # Its upload's answer was lost: the file may be there under no known id.
        files = engine.call(lambda: list_files(server_id, numeric_id))
        found = find_sent_file(files, engine.owned_file_ids(), name, size)
        if found is None:
            _document_removed(engine, change_id, doc_id, case_id)
            return
        file_id = found.file_id
        with engine.ws.transaction() as s:
            linked = s.get(Document, doc_id)
            if linked is not None:
                linked.server_file_id = found.file_id
    engine.mark_in_flight(change_id, {"file_id": file_id})
    try:
        engine.call(lambda: delete_file(file_id, server_id, numeric_id))
    except err.RemoteNotFound:
        log.info("document removal: the server no longer had the file (done)")
    _document_removed(engine, change_id, doc_id, case_id)


def _document_removed(engine: OutboxEngine, change_id: int, doc_id: str, case_id: str) -> None:
    with engine.ws.transaction() as s:
        doc = s.get(Document, doc_id)
        if doc is not None:
            if doc.server_file_id is None:
                s.delete(doc)  # never reached the server: nothing to guard against
            else:  # a bare tombstone: its bytes go (the collector reclaims them)
                doc.state, doc.sha256, doc.error = DocumentState.REMOVED, None, None
        s.execute(delete(PendingChange).where(PendingChange.id == change_id))
        s.execute(delete(Document).where(Document.state == DocumentState.REMOVED,
                                         Document.removed_at < utcnow() - TOMBSTONE_KEEP))
        case = s.get(Case, case_id)
        if case is not None:
            settle_sync_state(s, case)
    engine.report.removed += 1
    log.info("document %s removed from the server", doc_id)


# ---------------------------------------------------------------- a case's deletion


def send_case_deletion(engine: OutboxEngine, change_id: int, *, read_case: ReadCase,
                       delete_case: DeleteCase, find_created: FindCreated) -> None:
    with engine.ws.sessions() as s:
        change = s.get(PendingChange, change_id)
        if change is None:
            return
        case = s.get(Case, change.case_id)
        if case is None or case.removed_at is None:
            s.delete(change)
            s.commit()
            return
        if _moves_out_waiting(s, case.id):
            return  # a document moved out of it is not on its new case on the server yet
        create = s.scalar(select(PendingChange).where(
            PendingChange.case_id == case.id, PendingChange.kind == ChangeKind.CREATE_CASE))
        unsure = dict(create.payload or {}) if create is not None and create.in_flight else None
        create_id = create.id if create is not None else None
        server_id, numeric_id, case_id = case.server_id, case.numeric_id, case.id
        seen = dict((change.payload or {}).get("seen") or {})
        confirmed = "confirmed" in (change.fields or [])
    if server_id is None:
        remote = find_created(unsure) if unsure else None
        if remote is None:  # it never reached the server
            _case_deleted(engine, case_id)
            return
        with engine.ws.transaction() as s:
            found = s.get(Case, case_id)
            if found is None:
                return
            link_case(found, remote)
            if create_id is not None:
                s.execute(delete(PendingChange).where(PendingChange.id == create_id))
        server_id, numeric_id = remote.server_id, remote.numeric_id
    elif not confirmed:
        try:
            detail = engine.call(lambda: read_case(server_id, numeric_id))
        except err.RemoteNotFound:
            _case_deleted(engine, case_id)  # deleted there too
            return
        changed, new_files = _changed_since(seen, detail)
        if changed or new_files:
            _deletion_conflict(engine, change_id, case_id, seen, detail, changed, new_files)
            return
    engine.mark_in_flight(change_id, {"server_id": server_id, "seen": seen})
    try:
        engine.call(lambda: delete_case(server_id, numeric_id))
    except err.RemoteNotFound:
        log.info("case deletion: the server no longer had the case (done)")
    _case_deleted(engine, case_id)


def _moves_out_waiting(s: Session, case_id: str) -> bool:
    """A document moved out of this case whose copy is not on the server yet: deleting the
    case there now would delete the only server copy."""
    for source in s.scalars(select(Document).where(Document.case_id == case_id,
                                                   Document.moved_to_id.is_not(None))):
        copy = s.get(Document, source.moved_to_id)
        if copy is not None and copy.case_id != case_id and copy.server_file_id is None:
            return True
    return False


def _changed_since(seen: dict[str, Any], detail: CaseDetail) -> tuple[list[str], list[str]]:
    """The fields the server changed since the case was deleted here (against the values it
    had then), and the names of files there this computer never saw."""
    base = seen.get("base") or {}
    changed = []
    if detail.case is not None and base:
        changed = [name for name in CASE_FIELDS
                   if name in base and not same_value(getattr(detail.case, name), base[name])]
    known = set(seen.get("files") or [])
    new_files = [f.file_name for f in detail.files if f.file_id not in known]
    return changed, new_files


def _deletion_conflict(engine: OutboxEngine, change_id: int, case_id: str, seen: dict[str, Any],
                       detail: CaseDetail, changed: list[str], new_files: list[str]) -> None:
    """Deleted here, changed there: nothing is deleted; the person chooses."""
    theirs: dict[str, Any] = remote_fields(detail.case) if detail.case is not None else {}
    theirs.update(changed_fields=changed, new_files=new_files)
    with engine.ws.transaction() as s:
        case = s.get(Case, case_id)
        change = s.get(PendingChange, change_id)
        if case is None or change is None:
            return
        change.state, change.last_error, change.in_flight = (
            ChangeState.PARKED, CHANGED_THERE, False)
        if not _open_deletion(s, case_id):
            s.add(Conflict(case_id=case_id, field=DELETION, base_value=seen.get("base"),
                           local_value={"deleted": True}, server_value=theirs,
                           server_changed_at=detail.case.updated_at if detail.case else None))
            engine.report.conflicts += 1
        settle_sync_state(s, case)
    engine.report.problems.append(CHANGED_THERE)
    log.warning("case %s: deleted here, changed on the server: a conflict", case_id)


def _open_deletion(s: Session, case_id: str) -> bool:
    return s.scalar(select(Conflict.id).where(
        Conflict.case_id == case_id, Conflict.field == DELETION,
        Conflict.resolved_at.is_(None))) is not None


def _case_deleted(engine: OutboxEngine, case_id: str) -> None:
    with engine.ws.transaction() as s:
        case = s.get(Case, case_id)
        if case is not None:
            s.delete(case)  # its documents, outbox rows and conflicts go with it
    engine.report.deleted += 1
    log.info("case %s deleted on the server", case_id)


# ---------------------------------------------------------------- an analysis


def send_analysis(engine: OutboxEngine, change_id: int, *, read_case: ReadCase,
                  analyze: Analyze) -> None:
    with engine.ws.sessions() as s:
        change = s.get(PendingChange, change_id)
        if change is None:
            return
        case = s.get(Case, change.case_id)
        if case is None or case.server_id is None:
            return  # waits for its create (the analysis reads the case's files)
        server_id, numeric_id, case_id = case.server_id, case.numeric_id, case.id
        was_in_flight = change.in_flight

    def reconcile() -> RemoteCase | None:
        """An analysis under way on the server is the one an earlier attempt asked for."""
        found = engine.call(lambda: read_case(server_id, numeric_id)).case
        return found if found is not None and found.status in ANALYSIS_RUNNING else None

    echo = reconcile() if was_in_flight else None
    if echo is None:
        engine.mark_in_flight(change_id, {"sent_at": utcnow().isoformat()})
        try:
            echo = engine.call(lambda: analyze(server_id, numeric_id), reconcile)
        except err.ProtocolError as exc:
            raise err.OutcomeUnknownError(str(exc)) from exc
    with engine.ws.transaction() as s:
        merge_cases(engine, s, [echo])
        s.execute(delete(PendingChange).where(PendingChange.id == change_id))
        case = s.get(Case, case_id)
        if case is not None:
            case.detail_stale = True
            settle_sync_state(s, case)
    engine.report.analyses += 1
    log.info("analysis of case %s asked for", case_id)
