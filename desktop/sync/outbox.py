"""The outbox engine every server kind runs on: push the queue exactly once, then the kind's
own phases (pull and merge, file refresh). A pure function of (cache, client): no Qt, no
globals; progress goes to a callback and a run can be cancelled between steps.

The decisions live here once:

- **In flight before a send**: a change that may reach the server is marked ``in_flight``
  (committed) before the request leaves. If its outcome stays unknown (timeout, dropped
  connection, 5xx, unreadable answer), the next attempt first looks for it on the server
  (reconcile) and adopts a match instead of sending again.
- **Retry** what may succeed (network, 429, 5xx) a few times within the run with jittered
  backoff, honouring a short Retry-After; then **defer** the change to a later run and stop
  (the rest of the queue would fail the same way). A Retry-After longer than a short wait is
  never slept through inside the run: the change is deferred to that time at once, and the
  report says when the server asked to be tried again (``retry_after``).
- **Park** what the server refused (4xx): set aside with the server's reason; the queue goes on.
- **Sign-in** (401) and **offline** stop the run at once and keep the queue untouched.
- **Several in flight**: a kind may let its changes go several at a time (:meth:`lanes`):
  changes that share a lane key (the same case; for creates, the same content, since a lost
  answer is found again by content) go one after another in order, the others side by side.
  Kinds still go one kind after another, in ``KIND_ORDER``. A stop (sign-in, offline, a
  server that keeps failing, a cancel) lets the requests already sent finish and be recorded,
  and sends nothing more; a short Retry-After holds back every lane.

A server kind subclasses :class:`OutboxEngine`, says which outbox kinds it takes
(:meth:`senders`) and what runs after the push (:meth:`after_push`). Kinds it does not take
stay queued (a files-only server keeps case edits here) and are counted, not failed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from desktop.models.tables import (
    Case,
    ChangeKind,
    ChangeState,
    Document,
    DocumentState,
    PendingChange,
    SyncMeta,
    SyncState,
    utcnow,
)
from desktop.sync import errors as err
from desktop.sync import plain_writes
from desktop.sync.records import RemoteFile
from desktop.sync.report import Phase, Stop, SyncProgress, SyncReport
from desktop.workspace import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

# The order kinds go in: a case must exist on the server before its edits and files; a
# moved document's copy is uploaded before the original is removed; an analysis reads the
# case's files as they end up; a case is deleted after documents moved out of it arrived.
KIND_ORDER = {ChangeKind.CREATE_CASE: 0, ChangeKind.UPDATE_CASE: 1, ChangeKind.UPLOAD_DOCUMENT: 2,
              ChangeKind.REMOVE_DOCUMENT: 3, ChangeKind.ANALYZE_CASE: 4,
              ChangeKind.DELETE_CASE: 5}

Sender = Callable[[int], None]
#: A change's lane keys: changes sharing any key go one after another, in queue order.
LaneKeys = dict[int, frozenset[Hashable]]

# Changes prepared (marked in flight) together, in one commit, before any of them is sent.
# Each batch is sent whole before the next is prepared, so the requests in flight drain at
# every batch's end. Creates go in larger batches: after a kill -9 the ones a batch left
# marked cost one read of the server's list in all (``MedMitraEngine._find_earlier_create``);
# uploads keep smaller ones, as each left marked costs a read of its case's files.
BATCH = 32
BATCH_OF_KIND: dict[str, int] = {ChangeKind.CREATE_CASE: 256}


class Stopped(Exception):
    """Ends the run early; the reason is already in the report."""


class Withdrawn(Exception):
    """The change was taken back here (a case or document deleted) while it was being read
    for sending: nothing is sent."""


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; Retry-After wins when the server sends it."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 20.0
    # A Retry-After up to this is waited for inside the run; a longer one ends the try.
    short_wait: float = 10.0
    # The longest wait a server may ask for; beyond it the change is tried then anyway.
    retry_after_max: float = 6 * 3600.0
    later_base: float = 30.0
    later_cap: float = 3600.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.short_wait))
        return random.uniform(0, min(self.cap, self.base * 2**attempt))

    def waits_long(self, retry_after: float | None) -> bool:
        return retry_after is not None and retry_after > self.short_wait

    def next_run_delay(self, attempts: int, retry_after: float | None = None) -> timedelta:
        seconds = min(self.later_cap, self.later_base * 2 ** max(0, attempts - 1))
        delay = random.uniform(seconds / 2, seconds)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_max))
        return timedelta(seconds=delay)


class OutboxEngine:
    """``run(progress, cancelled) -> SyncReport`` for one data folder and one server client."""

    #: How the server is named for people in reports ("Care360").
    server: ClassVar[str] = "the server"
    #: The server stores documents but no cases: case changes stay on this computer.
    files_only: ClassVar[bool] = False

    def __init__(
        self,
        workspace: Workspace,
        client: Any,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        detail_limit: int = 25,
        watch_limit: int = 25,
        honour_schedule: bool = True,
        in_flight: int = 4,
    ) -> None:
        self.ws = workspace
        self.client = client
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        # Case file lists read per sync: changed cases, then active ones in turn (details.py).
        self.detail_limit = detail_limit
        self.watch_limit = watch_limit
        # A person pressing "sync now" retries postponed changes at once; periodic runs wait.
        self.honour_schedule = honour_schedule
        # Requests in flight at once during the push (1: one at a time).
        self.in_flight = max(1, in_flight)
        self._progress: Callable[[SyncProgress], None] | None = None
        self._cancelled: Callable[[], bool] | None = None
        # A lane of a concurrent push counts into its own report, added to the run's at the
        # end of the lane (see the ``report`` property).
        self._lane = threading.local()
        self._merge_lock = threading.Lock()
        # No request leaves before this (monotonic) time: a short Retry-After holds all lanes.
        self._not_before = 0.0
        # When the current run began (outside a run: when this engine was made).
        self.run_started = utcnow()
        # Replaced at each run; outside a run (a case's files, a download) it only counts.
        self.report = SyncReport(server=self.server, files_only=self.files_only)

    @property
    def report(self) -> SyncReport:
        lane_report: SyncReport | None = getattr(self._lane, "report", None)
        return lane_report if lane_report is not None else self._report

    @report.setter
    def report(self, value: SyncReport) -> None:
        self._report = value

    # ------------------------------------------------------------ what a server kind provides

    def senders(self) -> dict[str, Sender]:
        """The outbox kinds this server takes, each with the step that sends one change."""
        raise NotImplementedError

    def after_push(self) -> None:
        """This kind's phases after the push (pull and merge, file refresh); none by default."""

    def lanes(self, kind: str, change_ids: list[int]) -> LaneKeys | None:
        """Lane keys of a batch of queued changes of one kind, which may then go several at a
        time; None (the default): this kind goes one change at a time. A kind may mark the
        whole batch in flight here, in one commit, as long as :meth:`unsent` takes back the
        mark of any change the run then stops before sending."""
        return None

    def unsent(self, change_ids: list[int]) -> None:
        """Changes :meth:`lanes` prepared that the run stopped before sending."""

    # ------------------------------------------------------------ the run

    def run(
        self,
        progress: Callable[[SyncProgress], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> SyncReport:
        self._progress, self._cancelled = progress, cancelled
        self.run_started = utcnow()
        self.report = report = self._new_report()
        try:
            self.push()
            self.check_cancel()
            self.after_push()
            self._record_success()
        except Stopped:
            pass
        except err.AuthError as exc:
            report.stop, report.error = Stop.SIGN_IN, str(exc)
        except err.OfflineError:
            report.stop = Stop.OFFLINE
        except err.SyncError as exc:
            report.stop, report.error = Stop.FAILED, str(exc)
        self._record_outcome()
        self.emit(Phase.DONE)
        log.info("%s done stop=%s %s", type(self).__name__, report.stop,
                 " ".join(f"{k}={v}" for k, v in report.counts().items() if v))
        return report

    def _new_report(self) -> SyncReport:
        self.report = report = SyncReport(server=self.server, files_only=self.files_only)
        report.case_changes_kept = self._kept_here() if self.files_only else 0
        return report

    def _kept_here(self) -> int:
        """Queued case changes of kinds this server does not take: they stay on this computer
        (document removals are counted apart, in ``document_removals_kept``)."""
        with self.ws.sessions() as s:
            kept = dict(s.execute(select(PendingChange.kind, func.count()).where(
                PendingChange.kind.not_in(list(self.senders()))).group_by(PendingChange.kind)
            ).all())
        self.report.document_removals_kept = int(kept.pop(ChangeKind.REMOVE_DOCUMENT, 0))
        return int(sum(kept.values()))

    def emit(self, phase: Phase, **counts: Any) -> None:
        if phase is Phase.UPLOAD:
            # Called between chunks of a request body: a cancelled run stops mid-file (the
            # server receives an incomplete body and stores nothing).
            self.check_cancel()
        if self._progress is not None:
            self._progress(SyncProgress(phase, **counts))

    def check_cancel(self) -> None:
        if self._cancelled is not None and self._cancelled():
            self.report.stop = Stop.CANCELLED
            raise Stopped

    def call(self, op: Callable[[], T], reconcile: Callable[[], T | None] | None = None) -> T:
        """Run one request with in-run retries for transient failures.

        Before retrying a request whose outcome is unknown, *reconcile* looks for the record
        on the server; a match is adopted instead of sending again.
        """
        attempt = 0
        while True:
            self._hold_back()
            try:
                return op()
            except (err.AuthError, err.OfflineError):
                raise
            except err.SyncError as exc:
                if not exc.retryable:
                    raise
                if self.policy.waits_long(exc.retry_after):
                    # The server asked for a long wait: try again then, not asleep in here.
                    assert exc.retry_after is not None
                    self.report.retry_after = min(exc.retry_after, self.policy.retry_after_max)
                    log.info("server asked to wait %.0fs; not retrying in this run",
                             exc.retry_after)
                    raise
                if not exc.again_in_run:
                    raise
                attempt += 1
                if attempt >= self.policy.attempts:
                    raise
                delay = self.policy.delay(attempt, exc.retry_after)
                log.info("transient failure (%s), retry %d in %.1fs", type(exc).__name__,
                         attempt, delay)
                if exc.retry_after is not None:  # the server asked every lane to wait
                    self._lane.waited_until = time.monotonic() + delay
                    self._not_before = max(self._not_before, self._lane.waited_until)
                self.sleep(delay)
                self.check_cancel()
                if exc.outcome_unknown and reconcile is not None:
                    found = reconcile()
                    if found is not None:
                        return found

    def _hold_back(self) -> None:
        """Wait out a Retry-After another lane of this push was given (a lane that was given
        it has waited already)."""
        if getattr(self._lane, "report", None) is None:
            return  # one at a time: nothing else is in flight
        if getattr(self._lane, "waited_until", 0.0) >= self._not_before:
            return
        wait = self._not_before - time.monotonic()
        if wait > 0:
            self.sleep(wait)
            self.check_cancel()

    # ------------------------------------------------------------ push

    def due_changes(self) -> list[tuple[int, str, datetime]]:
        """Queued changes this server takes, due now, in send order: (id, kind, created)."""
        now = utcnow()
        kinds = list(self.senders())
        with self.ws.sessions() as s:
            # A case or document deleted here sends nothing but its deletion.
            rows = s.execute(
                select(PendingChange.id, PendingChange.kind, PendingChange.next_attempt_at,
                       PendingChange.created_at)
                .join(Case, Case.id == PendingChange.case_id)
                .outerjoin(Document, Document.id == PendingChange.document_id)
                .where(PendingChange.state == ChangeState.QUEUED,
                       PendingChange.kind.in_(kinds),
                       or_(Case.removed_at.is_(None),
                           PendingChange.kind == ChangeKind.DELETE_CASE),
                       or_(Document.id.is_(None), Document.removed_at.is_(None),
                           PendingChange.kind == ChangeKind.REMOVE_DOCUMENT))
            ).all()
        due = [(i, k, made) for i, k, at, made in rows
               if at is None or at <= now or not self.honour_schedule]
        return sorted(due, key=lambda r: (KIND_ORDER.get(ChangeKind(r[1]), 9), r[0]))

    def push(self) -> None:
        # A push can queue follow-up work (a created case's status goes as an update), so the
        # outbox is read again until nothing new is due; each change is tried once per run.
        # A change is known by its id and creation time: SQLite hands a deleted row's id to
        # the next row (a follow-up written right after its create was cleared).
        senders = self.senders()
        tried: set[tuple[int, datetime]] = set()
        while True:
            due = [c for c in self.due_changes() if (c[0], c[2]) not in tried]
            if not due:
                return
            tried.update((change_id, made) for change_id, _kind, made in due)
            # One kind after another (due is in KIND_ORDER): a case's create before its
            # edits and files, a moved document's copy before the original's removal.
            for start, kind, ids in _runs_of_kind(due):
                if len(ids) > 1:
                    self._push_side_by_side(senders[kind], kind, ids, start, len(due))
                    continue
                for index, change_id in enumerate(ids, start):
                    self.check_cancel()
                    self.emit(Phase.PUSH, done=index, total=len(due))
                    self._push_one(senders[kind], change_id)

    def _push_side_by_side(
        self, send: Sender, kind: str, ids: list[int], start: int, total: int
    ) -> None:
        """Changes of one kind, up to ``in_flight`` requests at a time, lane by lane."""
        counter = iter(range(start, start + len(ids)))
        # The first change goes alone: a server that refuses the sign-in, cannot be reached
        # or is failing is found with one request, as one at a time would, not with several.
        first = True
        size = BATCH_OF_KIND.get(kind, BATCH)
        for batch_start in range(0, len(ids), size):
            batch = ids[batch_start:batch_start + size]
            self.check_cancel()
            keys = self.lanes(kind, batch)
            if keys is None:  # this kind goes one at a time
                for change_id in batch:
                    self.check_cancel()
                    self.emit(Phase.PUSH, done=next(counter), total=total)
                    self._push_one(send, change_id)
                continue
            started: set[int] = set()
            try:
                self._run_lanes(send, _lanes_of(batch, keys), started, counter, total, first)
                first = False
            finally:
                unsent = [i for i in batch if i not in started]
                if unsent:
                    self.unsent(unsent)

    def _run_lanes(
        self, send: Sender, lanes: list[list[int]], started: set[int], counter: Iterator[int],
        total: int, first_alone: bool = False,
    ) -> None:
        """Changes lane by lane (:meth:`side_by_side`), each counted as started and shown
        before it is sent."""
        def step(change_id: int) -> None:
            started.add(change_id)
            self.emit(Phase.PUSH, done=next(counter), total=total)
            self._push_one(send, change_id)

        self.side_by_side(step, lanes, first_alone)

    def side_by_side(
        self, step: Callable[[T], None], lanes: list[list[T]], first_alone: bool = False,
    ) -> None:
        """Each lane in order on one of ``in_flight`` threads; the first stop ends them all
        (each finishes and records the step it is in) and is raised here. Each lane counts
        into a report of its own, added to the run's as it ends.
        *first_alone*: the first step is done before any other starts (a server that refuses
        the sign-in, cannot be reached or is failing is found with one request)."""
        stops: list[BaseException] = []
        # A Retry-After holds back the lanes running beside the one given it; that one waited
        # it out before the last side by side ended, so nothing is left to wait for now.
        self._not_before = 0.0

        def run_lane(lane: list[T]) -> None:
            self._lane.report = SyncReport(server=self.server, files_only=self.files_only)
            self._lane.waited_until = 0.0
            try:
                for item in lane:
                    if stops:
                        return
                    self.check_cancel()
                    step(item)
            except BaseException as exc:  # a stop, or a fault of ours: ends the run as alone
                stops.append(exc)
            finally:
                lane_report, self._lane.report = self._lane.report, None
                with self._merge_lock:
                    _add_report(self._report, lane_report)

        if first_alone and self.in_flight > 1 and lanes:
            run_lane(lanes[0][:1])
            if stops:
                raise stops[0]
            lanes = [lane for lane in [lanes[0][1:], *lanes[1:]] if lane]
            if not lanes:  # that was the only step
                return
        if self.in_flight == 1:
            for lane in lanes:
                run_lane(lane)
        else:
            with ThreadPoolExecutor(min(self.in_flight, len(lanes)),
                                    thread_name_prefix="casedesk-push") as pool:
                for lane in lanes:
                    pool.submit(run_lane, lane)
        if stops:
            raise stops[0]

    def _push_one(self, send: Sender, change_id: int) -> None:
        try:
            send(change_id)
        except Withdrawn:
            log.info("change %d was taken back here before it was sent", change_id)
        except (err.AuthError, err.OfflineError, Stopped):
            self._interrupted(change_id)
            raise
        except err.SyncError as exc:
            if exc.retryable:
                self._defer(change_id, exc)
                # The server is failing; the rest of the queue would fail the same way.
                self.report.stop, self.report.error = Stop.FAILED, str(exc)
                raise Stopped from exc
            self._park(change_id, exc)

    def _defer(self, change_id: int, exc: Exception) -> None:
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is None:
                return
            change.next_attempt_at = utcnow() + self.policy.next_run_delay(
                change.attempts, getattr(exc, "retry_after", None))
            change.last_error = str(exc)
            if change.document_id:
                doc = s.get(Document, change.document_id)
                if doc is not None and doc.state == DocumentState.UPLOADING:
                    doc.state, doc.error = DocumentState.LOCAL_ONLY, str(exc)
        self.report.deferred += 1

    def _interrupted(self, change_id: int) -> None:
        """The run stopped mid-change: a document shown as uploading goes back to waiting."""
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is not None and change.document_id:
                doc = s.get(Document, change.document_id)
                if doc is not None and doc.state == DocumentState.UPLOADING:
                    doc.state = DocumentState.LOCAL_ONLY

    def _park(self, change_id: int, exc: Exception) -> None:
        """A refusal (4xx) sets this one change aside with the server's reason; the queue
        goes on."""
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
            if change.document_id and change.kind == ChangeKind.UPLOAD_DOCUMENT:
                doc = s.get(Document, change.document_id)
                if doc is not None:
                    doc.state, doc.error = DocumentState.FAILED, message
        self.report.parked += 1
        self.report.problems.append(message)
        log.warning("change %d parked: %s", change_id, type(exc).__name__)

    def mark_in_flight(self, change_id: int, payload: dict[str, Any]) -> None:
        """Committed before a request that may reach the server: what was sent, and that an
        answer is owed. A document shows as uploading meanwhile."""
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is None:
                raise Withdrawn(change_id)
            self.mark_in_flight_within(s, change, payload)

    @staticmethod
    def mark_in_flight_within(s: Session, change: PendingChange, payload: dict[str, Any]) -> None:
        """:meth:`mark_in_flight` inside a transaction the step already holds (the one that
        read what it sends): one commit before the request instead of two. The caller sends
        only after that transaction has committed."""
        change.in_flight, change.payload = True, payload
        change.attempts += 1
        if change.document_id and change.kind == ChangeKind.UPLOAD_DOCUMENT:
            doc = s.get(Document, change.document_id)
            if doc is not None:
                doc.state, doc.error = DocumentState.UPLOADING, None

    def clear_in_flight(self, change_id: int) -> None:
        """The request provably did nothing (refused sign-in, no connection): no reconcile
        is owed before the next attempt."""
        with self.ws.transaction() as s:
            change = s.get(PendingChange, change_id)
            if change is not None:
                change.in_flight = False

    @staticmethod
    def upload_rows(s: Session, change_id: int) -> tuple[PendingChange, Document, Case] | None:
        """A queued upload's change, document and case; None once any of them is gone."""
        change = s.get(PendingChange, change_id)
        if change is None or change.document_id is None:
            return None
        doc = s.get(Document, change.document_id)
        case = s.get(Case, change.case_id)
        if doc is None or case is None:
            return None
        return change, doc, case

    def owned_file_ids(self) -> set[str]:
        """Server files some local document already stands for: never adopted twice."""
        with self.ws.sessions() as s:
            return set(s.scalars(select(Document.server_file_id).where(
                Document.server_file_id.is_not(None))))

    def record_upload(
        self, change_id: int, doc_id: str, remote: RemoteFile, *, adopted: bool,
        note: str | None = None,
    ) -> None:
        """The server holds the document now: link it, drop the change, settle the case.

        Not flushed by itself (``Workspace.transaction``): the change stays marked in flight
        until this commits, so a record a power cut takes back is found again by the next
        sync (``reconcile.find_sent_file``); the run's later commits flush it."""
        with self.ws.transaction(flushed=False) as s:
            plain_writes.record_upload(s.connection(), change_id, doc_id, remote, note)
        if adopted:
            self.report.adopted += 1
        else:
            self.report.uploaded += 1

    def case_lanes(self, change_ids: list[int]) -> LaneKeys:
        """One lane per case: a case's own changes go in order."""
        with self.ws.sessions() as s:
            rows = s.execute(select(PendingChange.id, PendingChange.case_id).where(
                PendingChange.id.in_(change_ids))).all()
        return {change_id: frozenset([("case", case_id)]) for change_id, case_id in rows}

    # ------------------------------------------------------------ bookkeeping

    def _record_success(self) -> None:
        with self.ws.transaction() as s:
            meta = s.get(SyncMeta, 1) or SyncMeta(id=1)
            s.add(meta)
            meta.last_pull_at = meta.last_success_at = utcnow()
            meta.last_error = None

    def _record_outcome(self) -> None:
        report = self.report
        if report.ok:
            return
        with self.ws.transaction() as s:
            meta = s.get(SyncMeta, 1) or SyncMeta(id=1)
            s.add(meta)
            meta.last_error = report.error or (report.stop.value if report.stop else None)


def _runs_of_kind(due: list[tuple[int, str, datetime]]) -> Iterator[tuple[int, str, list[int]]]:
    """(index of the first, kind, change ids) of each run of one kind in *due*."""
    start = 0
    while start < len(due):
        kind = due[start][1]
        end = start
        while end < len(due) and due[end][1] == kind:
            end += 1
        yield start, kind, [change_id for change_id, _k, _m in due[start:end]]
        start = end


def _lanes_of(batch: list[int], keys: LaneKeys) -> list[list[int]]:
    """Changes grouped so that any two sharing a key are in one lane, each lane in queue
    order, the lanes in the order of their first change. A change without keys (gone from
    the queue meanwhile) is a lane of its own: its sender finds nothing to send."""
    owner: dict[Hashable, int] = {}
    parent = list(range(len(batch)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for index, change_id in enumerate(batch):
        for key in keys.get(change_id, frozenset()):
            if key in owner:
                a, b = root(owner[key]), root(index)
                parent[max(a, b)] = min(a, b)
            else:
                owner[key] = index
    lanes: dict[int, list[int]] = {}
    for index, change_id in enumerate(batch):
        lanes.setdefault(root(index), []).append(change_id)
    return list(lanes.values())


def _add_report(into: SyncReport, part: SyncReport | None) -> None:
    """A lane's counts and words added to the run's report; the first stop wins."""
    if part is None:
        return
    for f in fields(SyncReport):
        mine, theirs = getattr(into, f.name), getattr(part, f.name)
        if isinstance(theirs, bool) or f.name in ("server", "files_only", "case_changes_kept",
                                                  "document_removals_kept"):
            continue
        if isinstance(theirs, int):
            setattr(into, f.name, mine + theirs)
        elif isinstance(theirs, list):
            mine.extend(theirs)
    if into.stop is None and part.stop is not None:
        into.stop, into.error = part.stop, part.error
    elif into.error is None and part.error is not None:
        into.error = part.error
    if part.retry_after is not None:
        into.retry_after = max(into.retry_after or 0.0, part.retry_after)
