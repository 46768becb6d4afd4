"""SyncEngine.run(): push the outbox, pull the server's cases, merge, refresh files.

A pure function of (cache, API client): no Qt, no globals. HTTP never runs while a database
transaction is open; every local write is a short transaction. Progress goes to a callback
and a run can be cancelled between steps.

Exactly-once: before a create or upload that may reach the server, the change is marked
``in_flight`` (committed). If the outcome stays unknown (timeout, dropped connection, 5xx,
truncated answer), the next attempt first lists the server's records and adopts a match
instead of sending again.
"""

from __future__ import annotations

import gc
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from desktop.models.search import insert_cases, search_upkeep_batched
from desktop.models.tables import (
    CASE_FIELDS,
    EDITABLE_FIELDS,
    Case,
    ChangeKind,
    ChangeState,
    Conflict,
    Document,
    DocumentState,
    PendingChange,
    SyncMeta,
    SyncState,
    new_id,
    utcnow,
)
from desktop.sync import errors as err
from desktop.sync.api import Attachment, RemoteCase, RemoteFile, case_stamp, parse_case
from desktop.sync.merge import merge_case, same_value
from desktop.workspace import Workspace, queue_update, settle_sync_state

log = logging.getLogger(__name__)
T = TypeVar("T")

# A pull that finds more than this many (and over half) of the known cases gone keeps them all.
MASS_REMOVAL_MIN = 10
KIND_ORDER = {ChangeKind.CREATE_CASE: 0, ChangeKind.UPDATE_CASE: 1, ChangeKind.UPLOAD_DOCUMENT: 2}


# ---------------------------------------------------------------- reporting


@dataclass
class SyncProgress:
    phase: str  # "push", "upload", "pull", "files", "download", "done"
    message: str
    done: int = 0
    total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    uploaded: int = 0
    adopted: int = 0
    pulled_new: int = 0
    pulled_changed: int = 0
    conflicts: int = 0
    parked: int = 0
    deferred: int = 0
    removed_remotely: int = 0
    offline: bool = False
    auth_required: bool = False
    cancelled: bool = False
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.offline or self.auth_required or self.cancelled or self.error)

    # What a dialect's report changes: how the server is named, what it counts, a footnote.
    server_name = "the server"
    synced_head = "Synced"
    refused = "refused by the server"

    def counts(self) -> list[str]:
        return [
            f"{self.created} created",
            f"{self.updated} updated",
            f"{self.uploaded} uploaded",
            f"{self.pulled_new} new and {self.pulled_changed} changed from the server",
        ]

    def footnote(self) -> str:
        return ""

    def summary(self) -> str:
        """One line for a person: what happened, and what happens to the work that remains."""
        if self.auth_required:
            return (f"Sync stopped: {self.error} Your work is kept and will sync after "
                    "sign-in." + self.footnote())
        if self.offline:
            return (f"Offline: {self.server_name} could not be reached. Your work is kept and "
                    "will sync later." + self.footnote())
        parts = self.counts()
        if self.adopted:
            parts.append(f"{self.adopted} matched an earlier attempt")
        if self.conflicts:
            parts.append(f"{self.conflicts} conflict(s) to resolve (casedesk conflicts)")
        if self.parked:
            parts.append(f"{self.parked} {self.refused} (casedesk pending)")
        if self.deferred:
            parts.append(f"{self.deferred} will retry later")
        if self.removed_remotely:
            parts.append(f"{self.removed_remotely} removed on the server")
        head = "Sync cancelled" if self.cancelled else self.synced_head
        if self.error:
            head = f"Sync incomplete: {self.error}"
        return f"{head}: " + ", ".join(parts) + "." + self.footnote()


class _Stop(Exception):
    """Ends the run early (offline, sign-in needed, cancelled, server unavailable)."""


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; Retry-After wins when the server sends it."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 20.0
    retry_after_cap: float = 120.0
    later_base: float = 30.0
    later_cap: float = 3600.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_cap))
        return random.uniform(0, min(self.cap, self.base * 2**attempt))

    def next_run_delay(self, attempts: int) -> timedelta:
        seconds = min(self.later_cap, self.later_base * 2 ** max(0, attempts - 1))
        return timedelta(seconds=random.uniform(seconds / 2, seconds))


# Server and client clocks disagree a little; a match may be this much older than our send.
CLOCK_SLACK = timedelta(minutes=10)
MATCH_KEYS = ("patient_name", "patient_age", "patient_gender", "case_summary")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def matches_sent(remote: RemoteCase, payload: dict[str, Any]) -> bool:
    """Is *remote* the case an earlier attempt sent? Same fields, created no earlier than the
    send (less clock slack), so an older look-alike case is never adopted by mistake."""
    sent = payload.get("fields") or {}
    if not sent or not all(
        (getattr(remote, k) or None) == (sent.get(k) or None) for k in MATCH_KEYS
    ):
        return False
    since, created = parse_time(payload.get("sent_at")), parse_time(remote.created_at)
    return since is None or created is None or created >= since - CLOCK_SLACK


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fields_of(case: Case) -> dict[str, Any]:
    return {name: getattr(case, name) for name in CASE_FIELDS}


def _remote_fields(remote: RemoteCase) -> dict[str, Any]:
    return {name: getattr(remote, name) for name in CASE_FIELDS}


def _data_version(db: Any) -> int:
    """SQLite's count of commits by other connections, as this connection has seen them."""
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def _first_from(prefetched: Future[T], op: Callable[[], T]) -> Callable[[], T]:
    """*op* whose first call takes the answer of a request already under way; retries (by
    ``_call``) send anew."""
    pending = [prefetched]

    def call() -> T:
        if pending:
            return pending.pop().result()
        return op()

    return call


def _known_stamps(db: Any) -> dict[str, str | None]:
    """server id -> server updated_at of every linked case.

    Built by SQLite as one JSON text: one step that runs without the GIL, where a row-by-row
    fetch takes and drops it 10,000 times (the window's thread waits on each hand-back), and
    a little faster (6 ms against 7 for 10,000 linked cases)."""
    text = db.execute(
        "SELECT json_group_object(server_id, server_updated_at) FROM cases "
        "WHERE server_id IS NOT NULL"
    ).fetchone()[0]
    stamps: dict[str, str | None] = json.loads(text)
    return stamps


def _chunks(items: list[T], size: int = 500) -> Iterator[list[T]]:
    """Slices of *items* for IN lists: SQLite refuses a statement with more values than its
    limit (32,766 in the builds Python ships on Windows and macOS, 999 in older ones)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------- the engine


class SyncEngine:
    def __init__(
        self,
        workspace: Workspace,
        client: Any,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        detail_limit: int = 25,
        honour_schedule: bool = True,
    ) -> None:
        self.ws = workspace
        self.client = client
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.detail_limit = detail_limit
        # A person pressing "sync now" retries postponed changes at once; periodic runs wait.
        self.honour_schedule = honour_schedule
        self._progress: Callable[[SyncProgress], None] | None = None
        self._cancelled: Callable[[], bool] | None = None
        self._report = SyncReport()

    # ------------------------------------------------------------ public

    def run(
        self,
        progress: Callable[[SyncProgress], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> SyncReport:
        self._progress, self._cancelled = progress, cancelled
        self._report = report = self._new_report()
        try:
            self._steps()
            self._record_success()
        except _Stop:
            pass
        except err.AuthError as exc:
            report.auth_required, report.error = True, str(exc)
        except err.OfflineError:
            report.offline = True
        except err.SyncError as exc:
            report.error = str(exc)
        self._record_outcome()
        self._emit("done", report.summary())
        counts = {k: v for k, v in vars(report).items() if isinstance(v, bool | int)}
        log.info("%s done %s", type(self).__name__,
                 " ".join(f"{k}={v}" for k, v in counts.items()))
        return report

    def _new_report(self) -> SyncReport:
        return SyncReport()

    def _steps(self) -> None:
        """Push, then pull and merge, then refresh files and insights of changed cases."""
        self._push()
        self._check_cancel()
        self._pull()
        self._check_cancel()
        self._refresh_details()

    def refresh_case(self, case_id: str) -> None:
        """Fetch one case's files and insights now (a person opened it)."""
        with self.ws.sessions() as s:
            case = s.get(Case, case_id)
            server_id = case.server_id if case else None
        if server_id:
            self._refresh_one(case_id, server_id)

    def download(
        self, document_id: str, progress: Callable[[int, int], None] | None = None
    ) -> Path:
        """Bring a server-only document into the blob store for offline viewing."""
        with self.ws.sessions() as s:
            doc = s.get(Document, document_id)
            if doc is None:
                raise err.SyncError(f"No document with id {document_id!r}.")
            if doc.sha256 and self.ws.blobs.exists(doc.sha256):
                return self.ws.blobs.path_for(doc.sha256)
            if not doc.file_url:
                raise err.SyncError("This document has no download address on the server.")
            url = doc.file_url
        blob = self.ws.blobs.ingest_stream(
            self.client.download_chunks(url, progress=progress), max_size=None
        )
        with self.ws.transaction() as s:
            doc = s.get(Document, document_id)
            if doc is not None:
                clash = s.scalar(
                    select(Document.id).where(
                        Document.case_id == doc.case_id,
                        Document.sha256 == blob.sha256,
                        Document.id != doc.id,
                    )
                )
                if clash is None:
                    doc.sha256 = blob.sha256
                doc.size = blob.size
                if doc.state == DocumentState.REMOTE_ONLY:
                    doc.state = DocumentState.DOWNLOADED
        return blob.path

    # ------------------------------------------------------------ plumbing

    def _emit(self, phase: str, message: str, **kw: int) -> None:
        if phase == "upload":
            # Called between chunks of a request body: a cancelled run stops mid-file (the
            # server receives an incomplete body and stores nothing).
            self._check_cancel()
        if self._progress is not None:
            self._progress(SyncProgress(phase, message, **kw))

    def _check_cancel(self) -> None:
        if self._cancelled is not None and self._cancelled():
            self._report.cancelled = True
            raise _Stop

    def _call(self, op: Callable[[], T], reconcile: Callable[[], T | None] | None = None) -> T:
        """Run one request with in-run retries for transient failures.

        Before retrying a request whose outcome is unknown, *reconcile* looks for the record
        on the server; a match is adopted instead of sending again.
        """
        attempt = 0
        while True:
            try:
                return op()
            except (err.AuthError, err.OfflineError):
                raise
            except err.SyncError as exc:
                if not getattr(exc, "retryable", False):
                    raise
                attempt += 1
                if attempt >= self.policy.attempts:
                    raise
                delay = self.policy.delay(attempt, getattr(exc, "retry_after", None))
                log.info("transient failure (%s), retry %d in %.1fs", type(exc).__name__, attempt, delay)
                self.sleep(delay)
                self._check_cancel()
                if getattr(exc, "outcome_unknown", False) and reconcile is not None:
                    found = reconcile()
                    if found is not None:
                        return found

    # ------------------------------------------------------------ push

    def _due_changes(self) -> list[tuple[int, str]]:
        now = utcnow()
        with self.ws.sessions() as s:
            rows = s.execute(
                select(PendingChange.id, PendingChange.kind, PendingChange.next_attempt_at).where(
                    PendingChange.state == ChangeState.QUEUED
                )
            ).all()
        due = [(i, k) for i, k, at in rows
               if at is None or at <= now or not self.honour_schedule]
        return sorted(due, key=lambda r: (KIND_ORDER.get(ChangeKind(r[1]), 9), r[0]))

    def _push(self) -> None:
        # A push can queue follow-up work (a created case's status goes as an update), so the
        # outbox is read again until nothing new is due; each change is tried once per run.
        tried: set[int] = set()
        while True:
            due = [c for c in self._due_changes() if c[0] not in tried]
            if not due:
                return
            for index, (change_id, kind) in enumerate(due):
                tried.add(change_id)
                self._push_one(change_id, kind, index, len(due))

    def _push_one(self, change_id: int, kind: str, index: int, total: int) -> None:
        self._check_cancel()
        self._emit("push", "Sending your changes", done=index, total=total)
        try:
            if kind == ChangeKind.CREATE_CASE:
                self._push_create(change_id)
            elif kind == ChangeKind.UPDATE_CASE:
                self._push_update(change_id)
            elif kind == ChangeKind.UPLOAD_DOCUMENT:
                self._push_upload(change_id)
        except (err.AuthError, err.OfflineError, _Stop):
            self._interrupted(change_id)
            raise
        except err.SyncError as exc:
            if getattr(exc, "retryable", False):
                self._defer(change_id, exc)
                # The server is failing; the rest of the queue would fail the same way.
                self._report.error = str(exc)
                raise _Stop from exc
            self._park(change_id, exc)

    def _defer(self, change_id: int, exc: Exception) -> None:
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is None:
                return
            change.next_attempt_at = utcnow() + self.policy.next_run_delay(change.attempts)
            change.last_error = str(exc)
            if change.document_id:
                doc = s.get(Document, change.document_id)
                if doc is not None and doc.state == DocumentState.UPLOADING:
                    doc.state, doc.error = DocumentState.LOCAL_ONLY, f"will retry: {exc}"
        self._report.deferred += 1

    def _interrupted(self, change_id: int) -> None:
        """The run stopped mid-change: a document shown as uploading goes back to waiting."""
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is not None and change.document_id:
                doc = s.get(Document, change.document_id)
                if doc is not None and doc.state == DocumentState.UPLOADING:
                    doc.state = DocumentState.LOCAL_ONLY

    def _park(self, change_id: int, exc: Exception) -> None:
        """A refusal (4xx) sets this one change aside with the server's reason; the queue goes on."""
        message = str(exc)
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is None:
                return
            change.state, change.last_error, change.in_flight = ChangeState.PARKED, message, False
            case = s.get(Case, change.case_id)
            if case is not None:
                gone = isinstance(exc, err.RemoteNotFound) and case.server_id is not None
                case.sync_state = SyncState.REMOVED_REMOTELY if gone else SyncState.ERROR
                case.sync_error = message
            if change.document_id:
                doc = s.get(Document, change.document_id)
                if doc is not None:
                    doc.state, doc.error = DocumentState.FAILED, message
        self._report.parked += 1
        self._report.problems.append(message)
        log.warning("change %d parked: %s", change_id, type(exc).__name__)

    def _mark_in_flight(self, change_id: int, payload: dict[str, Any]) -> None:
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            assert change is not None
            change.in_flight, change.payload = True, payload
            change.attempts += 1
            if change.document_id:
                doc = s.get(Document, change.document_id)
                if doc is not None:
                    doc.state, doc.error = DocumentState.UPLOADING, None

    # -- create

    def _push_create(self, change_id: int) -> None:
        with self.ws.sessions() as s:
            change = s.get(PendingChange, change_id)
            if change is None:
                return
            case = s.get(Case, change.case_id)
            assert case is not None
            if case.server_id is not None:  # already created (adopted by a pull)
                s.delete(change)
                s.commit()
                return
            fields = _fields_of(case)
            seq, was_in_flight, previous = change.seq, change.in_flight, change.payload
            uploads = s.execute(
                select(PendingChange.id, Document)
                .join(Document, Document.id == PendingChange.document_id)
                .where(
                    PendingChange.case_id == case.id,
                    PendingChange.kind == ChangeKind.UPLOAD_DOCUMENT,
                    PendingChange.state == ChangeState.QUEUED,
                )
                .order_by(PendingChange.id)
            ).all()
            attachments: list[tuple[str, Attachment]] = []
            for _upload_id, doc in uploads:
                path = self.ws.blob_path_for(doc.sha256)
                if path is not None:
                    attachments.append(
                        (doc.id, Attachment(path=path, name=doc.name, mime=doc.mime_type,
                                            category=doc.category))
                    )
            case_id = case.id

        if was_in_flight and previous:
            remote = self._find_created(previous)
            if remote is not None:
                self._adopt_created(change_id, case_id, seq, previous, remote, files=None)
                return

        try:
            remote, files, payload = self._send_create(change_id, fields, attachments)
        except err.RejectedError:
            if not attachments:
                raise
            # One refused file must not keep the case off the server: create it bare; its
            # files then go one by one, and a refusal is parked on that file alone.
            log.info("create refused with attachments; retrying without them")
            remote, files, payload = self._send_create(change_id, fields, [])
        self._adopt_created(change_id, case_id, seq, payload, remote, files)

    def _send_create(
        self, change_id: int, fields: dict[str, Any], attachments: list[tuple[str, Attachment]]
    ) -> tuple[RemoteCase, list[RemoteFile] | None, dict[str, Any]]:
        payload = {"fields": fields, "documents": [doc_id for doc_id, _ in attachments],
                   "sent_at": utcnow().isoformat()}
        self._mark_in_flight(change_id, payload)
        total = sum(a.path.stat().st_size for _, a in attachments)

        def send() -> tuple[RemoteCase, list[RemoteFile] | None]:
            remote, files = self.client.create_case(
                {k: v for k, v in fields.items() if k != "status"},
                [a for _, a in attachments],
                progress=(lambda done, _t: self._emit(
                    "upload", "Sending a new case with its files", bytes_done=done,
                    bytes_total=total)) if attachments else None,
            )
            return remote, list(files)

        def reconcile() -> tuple[RemoteCase, list[RemoteFile] | None] | None:
            found = self._find_created(payload)
            return (found, None) if found is not None else None

        try:
            remote, files = self._call(send, reconcile)
        except err.ProtocolError as exc:
            # The server answered but the answer was unreadable: it may have stored the case.
            raise err.OutcomeUnknownError(str(exc)) from exc
        return remote, files, payload

    def _find_created(self, payload: dict[str, Any]) -> RemoteCase | None:
        """A server case equal to what we sent that no local case already owns."""
        remote_cases = self._call(self.client.list_cases)
        with self.ws.sessions() as s:
            owned = set(s.scalars(select(Case.server_id).where(Case.server_id.is_not(None))))
        matches = [r for r in remote_cases
                   if r.server_id not in owned and matches_sent(r, payload)]
        if not matches:
            return None
        return max(matches, key=lambda r: r.created_at or "")

    def _adopt_created(
        self,
        change_id: int,
        case_id: str,
        seq: int,
        payload: dict[str, Any],
        remote: RemoteCase,
        files: list[RemoteFile] | None,
    ) -> None:
        sent_docs: list[str] = list(payload.get("documents", []))
        if files is None:
            # Adopted after an unknown outcome: find out which files arrived with it.
            files = list(self._call(lambda: self.client.list_files(remote.server_id,
                                                                   numeric_id=remote.numeric_id)))
            self._report.adopted += 1
        else:
            self._report.created += 1
        with self.ws.transaction() as s:
            case = s.get(Case, case_id)
            change = s.get(PendingChange, change_id)
            if case is None:
                return
            self._link_case(case, remote)
            sent = payload.get("fields", {})
            # Clean only what was sent: fields edited meanwhile (or not sendable, like status)
            # become an update.
            differing = [f for f in EDITABLE_FIELDS
                         if f in sent and not same_value(getattr(case, f), getattr(remote, f))]
            if change is not None:
                s.delete(change)
            s.flush()
            if differing:
                queue_update(s, case, differing)
            self._match_files(s, case, files, candidates=sent_docs)
            settle_sync_state(s, case)
        log.info("case %s created on the server", case_id)

    def _link_case(self, case: Case, remote: RemoteCase) -> None:
        case.server_id = remote.server_id
        case.numeric_id = remote.numeric_id
        case.server_created_at = remote.created_at
        case.server_updated_at = remote.updated_at
        case.base = _remote_fields(remote)
        case.detail_stale = True

    def _match_files(
        self, s: Session, case: Case, files: Iterable[RemoteFile], candidates: list[str] | None
    ) -> None:
        """Link server files to local documents by (name, size); the rest become server-only."""
        docs = list(s.scalars(select(Document).where(Document.case_id == case.id)))
        by_server = {d.server_file_id: d for d in docs if d.server_file_id}
        for remote in files:
            doc = by_server.get(remote.file_id)
            if doc is None:
                doc = next(
                    (d for d in docs if d.server_file_id is None and d.name == remote.file_name
                     and d.size == remote.file_size
                     and (candidates is None or d.id in candidates or self._upload_unsure(s, d))),
                    None,
                )
                if doc is not None:
                    doc.server_file_id = remote.file_id
                    doc.state, doc.error = DocumentState.UPLOADED, None
                    s.execute(delete(PendingChange).where(PendingChange.document_id == doc.id))
                    by_server[remote.file_id] = doc
            if doc is None:
                doc = Document(
                    id=new_id(), case_id=case.id, server_file_id=remote.file_id,
                    name=_safe_name(remote.file_name), mime_type=remote.file_type or "application/octet-stream",
                    size=remote.file_size or 0, sha256=None,
                    category=remote.file_category or "lab", state=DocumentState.REMOTE_ONLY,
                )
                s.add(doc)
                docs.append(doc)
                by_server[remote.file_id] = doc
            doc.file_url = remote.file_url
            doc.uploaded_at = remote.uploaded_at
            if remote.file_category in ("lab", "radiology"):
                doc.category = remote.file_category
        # Files that went inside a create but did not arrive stay queued: mark them unsure so
        # their upload reconciles first.
        if candidates:
            for doc in docs:
                if doc.id in candidates and doc.server_file_id is None:
                    s.execute(
                        PendingChange.__table__.update()
                        .where(PendingChange.document_id == doc.id)
                        .values(in_flight=True, payload={"name": doc.name, "size": doc.size})
                    )
                    doc.state = DocumentState.LOCAL_ONLY

    def _upload_unsure(self, s: Session, doc: Document) -> bool:
        return bool(
            s.scalar(
                select(func.count()).select_from(PendingChange).where(
                    PendingChange.document_id == doc.id, PendingChange.in_flight.is_(True)
                )
            )
        )

    # -- update

    def _push_update(self, change_id: int) -> None:
        with self.ws.sessions() as s:
            change = s.get(PendingChange, change_id)
            if change is None:
                return
            case = s.get(Case, change.case_id)
            assert case is not None
            if case.server_id is None:
                return  # its create has not gone yet; it carries current values anyway
            server_id, numeric_id, case_id = case.server_id, case.numeric_id, case.id

        # The API has no version or If-Match: read the server's copy right before writing and
        # merge it, so a change made there since our last pull becomes a conflict, not a loss.
        detail = self._call(lambda: self.client.get_case(server_id, numeric_id=numeric_id))
        with self.ws.transaction() as s:
            self._merge_remote(s, detail.case, count=False)
        with self.ws.sessions() as s:
            change = s.get(PendingChange, change_id)
            case = s.get(Case, case_id)
            if change is None or case is None:
                return
            blocked = set(s.scalars(select(Conflict.field).where(
                Conflict.case_id == case_id, Conflict.resolved_at.is_(None))))
            values = {f: getattr(case, f) for f in (change.fields or [])
                      if f in EDITABLE_FIELDS and f not in blocked}
        if not values:
            return
        self._mark_in_flight(change_id, {"values": values})
        remote: RemoteCase = self._call(
            lambda: self.client.update_case(server_id, values, numeric_id=numeric_id)
        )
        with self.ws.transaction() as s:
            case = s.get(Case, case_id)
            change = s.get(PendingChange, change_id)
            if case is None:
                return
            base = dict(case.base or {})
            for name in values:
                base[name] = getattr(remote, name, values[name])
            case.base = base
            # server_updated_at is left alone: the next pull merges whatever else changed.
            if remote.numeric_id:
                case.numeric_id = remote.numeric_id
            if change is not None:
                # Clean only what was sent: a field edited again meanwhile stays dirty.
                remaining = [f for f in (change.fields or [])
                             if f not in values or getattr(case, f) != values[f]]
                if remaining:
                    change.fields, change.in_flight, change.payload = remaining, False, None
                else:
                    s.delete(change)
            settle_sync_state(s, case)
        self._report.updated += 1

    # -- upload

    @staticmethod
    def _upload_rows(
        s: Session, change_id: int
    ) -> tuple[PendingChange, Document, Case] | None:
        """A queued upload's change, document and case; None once any of them is gone."""
        change = s.get(PendingChange, change_id)
        if change is None or change.document_id is None:
            return None
        doc = s.get(Document, change.document_id)
        case = s.get(Case, change.case_id)
        if doc is None or case is None:
            return None
        return change, doc, case

    def _push_upload(self, change_id: int) -> None:
        with self.ws.sessions() as s:
            rows = self._upload_rows(s, change_id)
            if rows is None:
                return
            change, doc, case = rows
            if case.server_id is None:
                return  # goes inside the case's create
            path = self.ws.blob_path_for(doc.sha256)
            server_id, numeric_id = case.server_id, case.numeric_id
            name, size, mime, doc_id = doc.name, doc.size, doc.mime_type, doc.id
            was_in_flight = change.in_flight
        if path is None:
            raise err.RejectedError(
                f"The bytes of {name!r} are missing from the local store; attach the file again."
            )
        payload = {"name": name, "size": size}

        adopted = False

        def reconcile() -> RemoteFile | None:
            nonlocal adopted
            files = self._call(lambda: self.client.list_files(server_id, numeric_id=numeric_id))
            with self.ws.sessions() as s:
                owned = set(s.scalars(select(Document.server_file_id).where(
                    Document.server_file_id.is_not(None))))
            found = next((f for f in files if f.file_id not in owned and f.file_name == name
                          and f.file_size == size), None)
            adopted = found is not None
            return found

        remote = reconcile() if was_in_flight else None
        if remote is None:
            self._mark_in_flight(change_id, payload)

            def send() -> RemoteFile:
                return self.client.upload_file(
                    server_id, path, name, mime, numeric_id=numeric_id,
                    progress=lambda done, total: self._emit(
                        "upload", f"Uploading {name}", bytes_done=done, bytes_total=total),
                )

            try:
                remote = self._call(send, reconcile)
            except err.ProtocolError as exc:
                raise err.OutcomeUnknownError(str(exc)) from exc
        with self.ws.transaction() as s:
            doc = s.get(Document, doc_id)
            if doc is not None:
                doc.server_file_id = remote.file_id
                doc.file_url = remote.file_url
                doc.uploaded_at = remote.uploaded_at
                doc.state, doc.error = DocumentState.UPLOADED, None
                if remote.file_category in ("lab", "radiology"):
                    doc.category = remote.file_category
            s.execute(delete(PendingChange).where(PendingChange.id == change_id))
            case = s.get(Case, doc.case_id) if doc else None
            if case is not None:
                settle_sync_state(s, case)
        if adopted:
            self._report.adopted += 1
        else:
            self._report.uploaded += 1

    # ------------------------------------------------------------ pull

    def _pull(self) -> None:
        self._emit("pull", "Fetching the server's cases")
        # Thousands of fresh records would trigger full garbage collections, each walking every
        # object in the process while holding the GIL (40-60 ms pauses of the window's thread).
        # They hold no reference cycles and are freed by reference counting when the pull ends.
        with _gc_paused():
            self._pull_records()

    def _pull_records(self) -> None:
        # The list is fetched on a helper thread while this one reads what the cache knows,
        # so the server's answer time hides the read. No transaction is open meanwhile: the
        # write lock is taken once the answer is in, and if another connection committed
        # since the read (an edit saved during the request), the read is done again under it.
        with self.ws.sessions.begin() as s, ThreadPoolExecutor(
            1, thread_name_prefix="casedesk-pull"
        ) as pool:
            listing = pool.submit(self.client.list_case_records)
            db = s.connection().connection.dbapi_connection
            version = _data_version(db)
            known = _known_stamps(db)
            records = self._call(_first_from(listing, self.client.list_case_records))
            self._check_cancel()
            s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            if _data_version(db) != version:
                known = _known_stamps(db)
            self._apply_listing(s, records, known)

    def _apply_listing(
        self, s: Session, records: list[Any], known: dict[str, str | None]
    ) -> None:
        marked_gone = {server_id for (server_id,) in s.connection().exec_driver_sql(
            "SELECT server_id FROM cases WHERE sync_state = ? AND server_id IS NOT NULL",
            (SyncState.REMOVED_REMOTELY.value,))}
        unsure_creates = [
            (change.id, change.case_id, change.payload)
            for change in s.scalars(select(PendingChange).where(
                PendingChange.kind == ChangeKind.CREATE_CASE,
                PendingChange.in_flight.is_(True)))
        ]
        fresh: list[dict[str, Any]] = []
        changed: list[RemoteCase] = []
        seen: set[str] = set()
        now = utcnow()
        # Most records are unchanged: only their (id, updated_at) stamp is read.
        for raw in records:
            server_id, updated = case_stamp(raw)
            if server_id in seen:
                continue  # listed twice by the server: the first (newest) wins
            seen.add(server_id)
            if server_id not in known:
                remote = parse_case(raw)
                claim = self._claim_unsure_create(remote, unsure_creates)
                if claim is not None:
                    unsure_creates.remove(claim)
                    self._adopt_in_pull(s, claim, remote)
                    continue
                fresh.append(self._new_case_row(remote, now))
            elif known[server_id] != updated or server_id in marked_gone:
                changed.append(parse_case(raw))
        if fresh:
            insert_cases(s, fresh)
            self._report.pulled_new += len(fresh)
        if changed:
            self._merge_pulled(s, changed)
        missing = known.keys() - seen
        # Half of the cases vanishing at once is likelier a wrong account or a server fault
        # than real deletions: then nothing is deleted here, only marked.
        suspicious = len(missing) > max(MASS_REMOVAL_MIN, len(known) // 2)
        for server_id in missing:
            self._removed_remotely(s, server_id, keep=suspicious)
        if suspicious:
            self._report.error = (
                f"The server no longer lists {len(missing)} of your {len(known)} cases. "
                "They are kept on this computer, marked 'removed on the server'; check "
                "that you are signed in as the right user."
            )

    def _new_case_row(self, remote: RemoteCase, now: datetime) -> dict[str, Any]:
        """The cache row of a case first seen in a pull (spelled out: it runs once per case
        of a first sync, 10,000 times and more)."""
        name, age, gender = remote.patient_name, remote.patient_age, remote.patient_gender
        summary, status = remote.case_summary, remote.status
        return {
            "id": new_id(), "server_id": remote.server_id, "numeric_id": remote.numeric_id,
            "patient_name": "" if name is None else name,
            "patient_age": 0 if age is None else age,
            "patient_gender": "" if gender is None else gender,
            "case_summary": summary,
            "status": status or "pending",
            "created_at": now, "updated_at": now,
            "server_created_at": remote.created_at, "server_updated_at": remote.updated_at,
            "base": {"patient_name": name, "patient_age": age, "patient_gender": gender,
                     "case_summary": summary, "status": status},
            "sync_state": SyncState.SYNCED, "sync_error": None,
            "ai_insights": None, "detail_stale": True,
        }

    @staticmethod
    def _claim_unsure_create(
        remote: RemoteCase, unsure: list[tuple[int, str, dict[str, Any] | None]]
    ) -> tuple[int, str, dict[str, Any] | None] | None:
        for item in unsure:
            if item[2] and matches_sent(remote, item[2]):
                return item
        return None

    def _adopt_in_pull(
        self, s: Session, claim: tuple[int, str, dict[str, Any] | None], remote: RemoteCase
    ) -> None:
        """A case we sent whose answer was lost: link it instead of pulling a second copy."""
        change_id, case_id, payload = claim
        case = s.get(Case, case_id)
        if case is None:
            return
        self._link_case(case, remote)
        change = s.get(PendingChange, change_id)
        if change is not None:
            s.delete(change)
        s.flush()
        differing = [f for f in EDITABLE_FIELDS
                     if not same_value(getattr(case, f), getattr(remote, f))]
        if differing:
            queue_update(s, case, differing)
        for doc_id in (payload or {}).get("documents", []):
            s.execute(
                PendingChange.__table__.update()
                .where(PendingChange.document_id == doc_id)
                .values(in_flight=True)
            )
        settle_sync_state(s, case)
        self._report.adopted += 1

    def _merge_pulled(self, s: Session, remotes: list[RemoteCase]) -> None:
        """Merge a pull's changed cases: the usual one (nothing queued, no open conflict) is
        written by one grouped UPDATE; the rest take the ORM path of :meth:`_merge_many`.

        Only for the pull: these rows are never loaded as ORM objects in *s*, so the
        statements below cannot leave a stale object in the session behind them."""
        s.flush()  # the raw reads below must see any queued work added earlier in the pull
        conn = s.connection()
        rows = {row.server_id: row for row in conn.exec_driver_sql(
            f"SELECT rowid, id, server_id, base, sync_state, {', '.join(CASE_FIELDS)} "
            "FROM cases WHERE server_id IN (SELECT value FROM json_each(?))",
            (json.dumps([r.server_id for r in remotes]),))}
        ids = json.dumps([row.id for row in rows.values()])
        held = {case_id for (case_id,) in conn.exec_driver_sql(  # queued work, open conflicts
            "SELECT case_id FROM pending_changes WHERE case_id IN (SELECT value FROM json_each(?))"
            " UNION SELECT case_id FROM conflicts WHERE resolved_at IS NULL"
            " AND case_id IN (SELECT value FROM json_each(?))", (ids, ids))}
        now = utcnow()
        grouped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        rowids: list[int] = []
        rest: list[RemoteCase] = []
        for remote in remotes:
            row = rows.get(remote.server_id)
            if row is None:
                continue
            if row.id in held or row.sync_state == SyncState.REMOVED_REMOTELY:
                rest.append(remote)
                continue
            base = json.loads(row.base) if row.base is not None else None
            mine = {name: row._mapping[name] for name in CASE_FIELDS}
            result = merge_case(base, mine, _remote_fields(remote), CASE_FIELDS)
            if result.conflicts:
                rest.append(remote)
                continue
            params = {f"v_{name}": value for name, value in result.take.items()}
            params.update(
                b_id=row.id, v_base=result.new_base, v_server_updated_at=remote.updated_at,
                v_numeric_id=remote.numeric_id,
            )
            if result.take:
                params["v_updated_at"] = now
                self._report.pulled_changed += 1
            grouped.setdefault(tuple(sorted(params)), []).append(params)
            rowids.append(row.rowid)
        table = Case.__table__
        with search_upkeep_batched(conn, rowids):
            for keys, batch in grouped.items():
                values: dict[str, Any] = {
                    key[2:]: bindparam(key) for key in keys if key.startswith("v_")
                }
                values["numeric_id"] = func.coalesce(
                    bindparam("v_numeric_id"), table.c.numeric_id)
                values.update(detail_stale=True, sync_state=SyncState.SYNCED, sync_error=None)
                s.execute(
                    table.update().where(table.c.id == bindparam("b_id")).values(values), batch)
        if rest:
            self._merge_many(s, rest)

    def _merge_remote(self, s: Session, remote: RemoteCase, count: bool = True) -> None:
        self._merge_many(s, [remote], count=count)

    def _merge_many(self, s: Session, remotes: list[RemoteCase], count: bool = True) -> None:
        """Three-way merge of changed server cases, with their local state loaded in bulk."""
        with s.no_autoflush:
            cases: dict[str | None, Case] = {}
            updates: dict[str, PendingChange] = {}
            busy: set[str] = set()
            conflicts: dict[tuple[str, str], Conflict] = {}
            for chunk in _chunks([r.server_id for r in remotes]):
                cases.update((c.server_id, c) for c in s.scalars(
                    select(Case).where(Case.server_id.in_(chunk))))
            for ids in _chunks([c.id for c in cases.values()]):
                updates.update((u.case_id, u) for u in s.scalars(select(PendingChange).where(
                    PendingChange.case_id.in_(ids),
                    PendingChange.kind == ChangeKind.UPDATE_CASE)))
                busy.update(s.scalars(select(PendingChange.case_id).where(
                    PendingChange.case_id.in_(ids))))
                conflicts.update(((c.case_id, c.field), c) for c in s.scalars(
                    select(Conflict).where(
                        Conflict.case_id.in_(ids), Conflict.resolved_at.is_(None))))
            for remote in remotes:
                case = cases.get(remote.server_id)
                if case is None:
                    continue
                result = merge_case(case.base, _fields_of(case), _remote_fields(remote),
                                    CASE_FIELDS)
                for name, value in result.take.items():
                    setattr(case, name, value)
                case.base = result.new_base
                case.server_updated_at = remote.updated_at
                if remote.numeric_id:
                    case.numeric_id = remote.numeric_id
                case.detail_stale = True
                if case.sync_state == SyncState.REMOVED_REMOTELY:
                    case.sync_state, case.sync_error = SyncState.PENDING, None  # listed again
                if result.take:
                    case.updated_at = utcnow()
                update = updates.get(case.id)
                if update is not None and result.settled:
                    left = [f for f in (update.fields or [])
                            if f not in result.settled or f in result.keep]
                    if left:
                        update.fields = left
                    else:
                        s.delete(update)
                for c in result.conflicts:
                    existing = conflicts.get((case.id, c.field))
                    if existing is None:
                        conflict = Conflict(case_id=case.id, field=c.field, base_value=c.base,
                                            local_value=c.mine, server_value=c.theirs)
                        s.add(conflict)
                        conflicts[(case.id, c.field)] = conflict
                        self._report.conflicts += 1
                    else:
                        existing.local_value, existing.server_value = c.mine, c.theirs
                if count and (result.take or result.conflicts):
                    self._report.pulled_changed += 1
                has_conflict = any(key[0] == case.id for key in conflicts)
                if (case.id not in busy and not has_conflict
                        and case.sync_state != SyncState.REMOVED_REMOTELY):
                    case.sync_state, case.sync_error = SyncState.SYNCED, None
                elif case.id in busy or has_conflict:
                    settle_sync_state(s, case)

    def _removed_remotely(self, s: Session, server_id: str, keep: bool = False) -> None:
        case = s.scalar(select(Case).where(Case.server_id == server_id))
        if case is None:
            return
        case_id = case.id
        unsynced = keep or s.scalar(
            select(func.count()).select_from(PendingChange).where(PendingChange.case_id == case_id)
        ) or s.scalar(
            select(func.count()).select_from(Conflict).where(
                Conflict.case_id == case_id, Conflict.resolved_at.is_(None))
        )
        if unsynced:
            case.sync_state = SyncState.REMOVED_REMOTELY
            case.sync_error = ("This case is no longer on the server; it is kept here with "
                               "any unsynced work.")
        else:
            s.delete(case)
        self._report.removed_remotely += 1

    # ------------------------------------------------------------ files and insights

    def _refresh_details(self) -> None:
        with self.ws.sessions() as s:
            stale = s.execute(
                select(Case.id, Case.server_id)
                .where(Case.detail_stale.is_(True), Case.server_id.is_not(None))
                .order_by(Case.updated_at.desc())
                .limit(self.detail_limit)
            ).all()
        for index, (case_id, server_id) in enumerate(stale):
            self._check_cancel()
            self._emit("files", "Refreshing documents", done=index, total=len(stale))
            try:
                self._refresh_one(case_id, server_id)
            except err.RemoteNotFound:
                continue

    def _refresh_one(self, case_id: str, server_id: str) -> None:
        detail = self._call(lambda: self.client.get_case(server_id))
        with self.ws.transaction() as s:
            case = s.get(Case, case_id)
            if case is None:
                return
            if detail.insights:
                case.ai_insights = detail.insights
            self._match_files(s, case, detail.files, candidates=None)
            case.detail_stale = False

    # ------------------------------------------------------------ bookkeeping

    def _record_success(self) -> None:
        with self.ws.transaction() as s:
            meta = s.get(SyncMeta, 1) or SyncMeta(id=1)
            s.add(meta)
            meta.last_pull_at = meta.last_success_at = utcnow()
            meta.last_error = None

    def _record_outcome(self) -> None:
        report = self._report
        if report.ok:
            return
        with self.ws.transaction() as s:
            meta = s.get(SyncMeta, 1) or SyncMeta(id=1)
            s.add(meta)
            meta.last_error = report.summary()


def _safe_name(name: str | None) -> str:
    """A server file name is untrusted: keep only its last path part, printable, bounded."""
    raw = (name or "document").replace("\\", "/").split("/")[-1]
    cleaned = "".join(ch for ch in raw if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return (cleaned or "document")[:255]
