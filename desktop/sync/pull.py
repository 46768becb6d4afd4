"""Pull and merge: the server's case list into the cache, field by field against ``base``.

Server-only change → taken; local-only → kept and still pending; both changed differently →
a Conflict, never an overwrite. A case gone from the server is marked, not deleted, while it
holds unsynced work; half of them vanishing at once is taken for a wrong account or a server
fault, and then nothing is deleted.

Any server kind with a case list uses this through a :class:`Listing` of its own records; the
merge functions also serve the push (an update reads the server's copy and merges it first).
"""

from __future__ import annotations

import gc
import json
import logging
import marshal
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from desktop.models.search import case_loader, search_upkeep_batched
from desktop.models.tables import (
    CASE_FIELDS,
    EDITABLE_FIELDS,
    Case,
    ChangeKind,
    Conflict,
    PendingChange,
    SyncState,
    new_id,
    utcnow,
)
from desktop.sync.merge import merge_case, same_value
from desktop.sync.reconcile import matches_sent
from desktop.sync.records import RemoteCase, UnreadableRecord, remote_fields
from desktop.sync.report import Phase
from desktop.workspace import DELETION, queue_update, settle_sync_state

if TYPE_CHECKING:
    from desktop.sync.outbox import OutboxEngine

log = logging.getLogger(__name__)
T = TypeVar("T")

# A pull that finds more than this many (and over half) of the known cases gone keeps them all.
MASS_REMOVAL_MIN = 10


@dataclass(frozen=True)
class Listing:
    """A server kind's case list: fetch its records unparsed (best as they arrive: an
    iterator is read on a helper thread and written batch by batch), read a record's
    (id, updated_at) stamp cheaply, and parse the records that are new or changed."""

    fetch: Callable[[], Iterable[Any]]
    stamp: Callable[[Any], tuple[str, str | None]]
    parse: Callable[[Any], RemoteCase]


def fields_of(case: Case) -> dict[str, Any]:
    return {name: getattr(case, name) for name in CASE_FIELDS}


def link_case(case: Case, remote: RemoteCase) -> None:
    """A local case is that server case from now on; its base is the server's values."""
    case.server_id = remote.server_id
    case.numeric_id = remote.numeric_id
    case.server_created_at = remote.created_at
    case.server_updated_at = remote.updated_at
    case.base = remote_fields(remote)
    case.detail_stale = True


# ---------------------------------------------------------------- the pull


# Records read between two progress reports of a pull.
PROGRESS_EVERY = 5000


def pull(engine: OutboxEngine, listing: Listing) -> None:
    engine.emit(Phase.PULL)
    # Thousands of fresh records would trigger full garbage collections, each walking every
    # object in the process while holding the GIL (40-60 ms pauses of the window's thread).
    # They hold no reference cycles and are freed by reference counting when the pull ends.
    with _gc_paused():
        _pull_records(engine, listing)


def _pull_records(engine: OutboxEngine, listing: Listing) -> None:
    # One attempt reads the list and applies it in one transaction; a failure part way (the
    # connection broke, the answer was cut off or found bad) rolls back all of it, and a
    # retry reads the list anew.
    engine.call(lambda: _pull_once(engine, listing))


def _pull_once(engine: OutboxEngine, listing: Listing) -> None:
    # The whole list is read first, with no lock held: over a slow line 100,000 cases take
    # tens of seconds to arrive, and a save in the window must not wait for them (it would
    # give up after SQLite's busy timeout). It is held packed small meanwhile (_HeldList).
    # Then, under the write lock, a helper thread unpacks, stamps and parses it batch by
    # batch while this one writes (SQLite works without the GIL); if another connection
    # committed since the cache's stamps were read (an edit saved meanwhile), they are read
    # again under the lock.
    held = _HeldList.read(engine, listing.fetch)
    listing = replace(listing, fetch=held.records)
    with engine.ws.sessions.begin() as s, _Prefetch(listing) as batches:
        db = s.connection().connection.dbapi_connection
        version = _data_version(db)
        known = _known_stamps(db)
        batches.prepare_with(known)
        first = batches.first()
        engine.check_cancel()
        s.connection().exec_driver_sql("BEGIN IMMEDIATE")
        if _data_version(db) != version:
            known = _known_stamps(db)
        with _page_cache(db, PULL_CACHE_KIB):
            _apply_listing(engine, s, listing, batches.after(first), known, held.count)


# A list of up to this many records is held as it is (it was decoded whole anyway, see
# json_stream.WHOLE_BELOW, and packing costs ~1 ms per 1,000 records); a longer one packed.
PACKED_FROM = 12_000


class _HeldList:
    """A case list read whole before it is applied, held as compressed batches once it is
    long: ~6 MiB for the ~30 MiB answer of 100,000 cases, where the records as Python objects
    take ~200 MiB.
    The records are the decoder's plain values (dicts, lists, strings, numbers), which
    ``marshal`` packs in C; a batch holding anything else (a record set aside as too deep)
    is kept as it is."""

    def __init__(self) -> None:
        self.chunks: list[bytes | list[Any]] = []
        self.count = 0

    @classmethod
    def read(cls, engine: OutboxEngine, fetch: Callable[[], Iterable[Any]]) -> _HeldList:
        held = cls()
        batch: list[Any] = []
        records = fetch()
        try:
            for raw in records:
                batch.append(raw)
                held.count += 1
                if held.count % PROGRESS_EVERY == 0:  # 100,000 cases take seconds: show it
                    engine.emit(Phase.PULL, done=held.count)
                    engine.check_cancel()
                if len(batch) >= BATCH:
                    held.add(batch)
                    batch = []
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()  # a generator left part way: its answer is closed here
        if batch:
            held.add(batch)
        return held

    def add(self, batch: list[Any]) -> None:
        self.chunks.append(batch)
        if self.count > PACKED_FROM:  # a long list: what is held so far packed, and the rest
            for index in range(len(self.chunks) - 1, -1, -1):
                if not isinstance(self.chunks[index], list):
                    break
                self.chunks[index] = _pack(self.chunks[index])

    def records(self) -> Iterator[Any]:
        """The records in the order listed, each batch unpacked when reached and let go."""
        self.chunks.reverse()
        while self.chunks:
            chunk = self.chunks.pop()
            yield from marshal.loads(zlib.decompress(chunk)) if isinstance(chunk, bytes) else chunk


def _pack(batch: list[Any]) -> bytes | list[Any]:
    try:
        return zlib.compress(marshal.dumps(batch), 1)
    except ValueError:  # not plain values: kept as they are (rare, and set aside anyway)
        return batch


# Records handed from the reading thread to the writing one at a time, and batches read ahead
# at most: what of the list is held at once (the rest is still on its way, or written).
BATCH = 500
AHEAD = 2
# SQLite's page cache while a pull writes (see _page_cache).
PULL_CACHE_KIB = 8 * 1024
# New rows written, and changed cases merged, this many at a time.
WRITE_EVERY = 1000
# Unreadable records of cases not here kept with their reasons; beyond this they are counted
# only (a hostile list of millions of bad records must not hold a reason for each).
SET_ASIDE_KEPT = 100


@dataclass(slots=True)
class _Read:
    """A record of the list as the reading thread prepared it: its stamp, and parsed (or found
    unreadable) when the cache's stamps then said it was new or changed, with its new row."""

    raw: Any
    server_id: str | None = None
    updated: str | None = None
    parsed: RemoteCase | UnreadableRecord | None = None
    row: tuple[Any, ...] | None = None

    def remote(self, listing: Listing) -> RemoteCase:
        """The parsed record (parsed here if the reading thread did not)."""
        if isinstance(self.parsed, UnreadableRecord):
            raise self.parsed
        return self.parsed if self.parsed is not None else listing.parse(self.raw)


class _Prefetch:
    """A listing read on a helper thread and handed over in batches: the records are stamped,
    and the new and changed ones parsed, on that thread too (it runs while this one waits on
    SQLite). An error of the read is raised where the batches are taken."""

    def __init__(self, listing: Listing) -> None:
        self._listing = listing
        self._queue: queue.Queue[list[_Read] | BaseException | None] = queue.Queue(AHEAD)
        self._stop = threading.Event()
        self._known: dict[str, str | None] | None = None
        self._known_set = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True, name="casedesk-pull")

    def __enter__(self) -> _Prefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._known_set.set()
        # A reader waiting on a slow server notices at its next piece; the run need not wait.
        self._thread.join(timeout=1.0)

    def prepare_with(self, known: dict[str, str | None]) -> None:
        """The cache's stamps, read meanwhile: which records to parse ahead. Only a hint (the
        writing thread decides again under the write lock)."""
        self._known = known
        self._known_set.set()

    def _read(self) -> None:
        records: Iterable[Any] = ()
        try:
            records = self._listing.fetch()
            batch: list[Any] = []
            for raw in records:
                batch.append(raw)
                if len(batch) >= BATCH:
                    if not self._put(self._prepared(batch)):
                        return
                    batch = []
            if (not batch or self._put(self._prepared(batch))) and self._put(None):
                return
        except BaseException as exc:  # noqa: BLE001 - raised again on the taking thread
            self._put(exc)
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()  # a generator left part way: its answer is closed here

    def _prepared(self, batch: list[Any]) -> list[_Read]:
        self._known_set.wait()
        known = self._known or {}
        stamp, parse = self._listing.stamp, self._listing.parse
        prepared = []
        for raw in batch:
            read = _Read(raw)
            prepared.append(read)
            # An error kept without its traceback: that would hold this frame, and with it
            # the batch, in a cycle that nothing frees while the pull keeps the collector off.
            try:
                read.server_id, read.updated = stamp(raw)
            except UnreadableRecord as exc:
                read.parsed = exc.with_traceback(None)
                continue
            new = read.server_id not in known
            if new or known[read.server_id] != read.updated:
                try:
                    read.parsed = remote = parse(raw)
                except UnreadableRecord as exc:
                    read.parsed = exc.with_traceback(None)
                    continue
                if new:
                    read.row = _new_case_row(remote)
        return prepared

    def _put(self, item: list[_Read] | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _take(self) -> list[_Read] | None:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def first(self) -> list[_Read] | None:
        """The first batch (None: the list is empty), waiting for it."""
        return self._take()

    def after(self, first: list[_Read] | None) -> Iterator[list[_Read]]:
        batch = first
        while batch is not None:
            yield batch
            batch = None  # let go of it before waiting for the next
            batch = self._take()


def _apply_listing(
    engine: OutboxEngine, s: Session, listing: Listing, batches: Iterable[list[_Read]],
    known: dict[str, str | None], total: int,
) -> None:
    report = engine.report
    marked_gone = {server_id for (server_id,) in s.connection().exec_driver_sql(
        "SELECT server_id FROM cases WHERE sync_state = ? AND server_id IS NOT NULL",
        (SyncState.REMOVED_REMOTELY.value,))}
    unsure_creates = [
        (change.id, change.case_id, change.payload)
        for change in s.scalars(select(PendingChange).where(
            PendingChange.kind == ChangeKind.CREATE_CASE,
            PendingChange.in_flight.is_(True)))
    ]
    fresh: list[tuple[Any, ...]] = []
    changed: list[RemoteCase] = []
    # Cases here that the list still holds. The ids of new cases are not kept (100,000 of
    # them: 13 MiB): a second listing of one is left out when written, the first wins. Only
    # while a create sent earlier may be among them are they kept, to claim it once.
    seen: set[str] = set()
    new_ids: set[str] | None = set() if unsure_creates else None
    now = utcnow()
    set_aside: list[UnreadableRecord] = []
    uncounted = 0  # set aside beyond SET_ASIDE_KEPT: counted, not kept
    count = 0
    with case_loader(s, now) as loader:
        for batch in batches:
            # Most records are unchanged: only their (id, updated_at) stamp is read.
            for read in batch:
                if count % PROGRESS_EVERY == 0:  # 100,000 cases take seconds: show it
                    engine.emit(Phase.PULL, done=count, total=total)
                count += 1
                try:
                    server_id = read.server_id
                    if server_id is None:  # its stamp could not be read
                        assert isinstance(read.parsed, UnreadableRecord)
                        raise read.parsed
                    if server_id not in known:
                        if new_ids is not None:
                            if server_id in new_ids:
                                continue  # listed twice by the server: the first wins
                            new_ids.add(server_id)
                        remote = read.remote(listing)
                        if unsure_creates:
                            claim = _claim_unsure_create(remote, unsure_creates)
                            if claim is not None:
                                unsure_creates.remove(claim)
                                _adopt_in_pull(engine, s, claim, remote)
                                continue
                        fresh.append(read.row or _new_case_row(remote))
                        continue
                    if server_id in seen:
                        continue  # listed twice by the server: the first (newest) wins
                    seen.add(server_id)
                    if known[server_id] != read.updated or server_id in marked_gone:
                        changed.append(read.remote(listing))
                except UnreadableRecord as exc:
                    # One bad record is set aside; the rest of the list (and the sync) goes on.
                    exc.with_traceback(None)  # (see _Prefetch._prepared)
                    if exc.server_id in known:
                        seen.add(exc.server_id)  # still listed: never taken for removed
                    if len(set_aside) < SET_ASIDE_KEPT or exc.server_id in known:
                        set_aside.append(exc)
                    else:
                        uncounted += 1
            # Written as they come: the list and the rows made from it are never held whole.
            if len(fresh) >= WRITE_EVERY:
                loader.add(fresh)
                fresh = []
            if len(changed) >= WRITE_EVERY:
                _merge_pulled(engine, s, changed)
                changed = []
        loader.add(fresh)
        loader.finish()
    report.pulled_new += loader.count
    if set_aside:
        _set_aside(engine, s, set_aside, known)
    if uncounted:
        log.warning("pull: %d more records set aside", uncounted)
        report.set_aside += uncounted
    if changed:
        _merge_pulled(engine, s, changed)
    missing = known.keys() - seen
    # Half of the cases vanishing at once is likelier a wrong account or a server fault than
    # real deletions: then nothing is deleted here, only marked.
    suspicious = len(missing) > max(MASS_REMOVAL_MIN, len(known) // 2)
    for server_id in missing:
        _removed_remotely(engine, s, server_id, keep=suspicious)
    if suspicious:
        report.vanished, report.known = len(missing), len(known)


def _set_aside(
    engine: OutboxEngine, s: Session, set_aside: list[UnreadableRecord],
    known: dict[str, str | None],
) -> None:
    """Count and log each unreadable record; a case already here keeps its own copy and shows
    the reason in its sync state (its stamp is left as it was, so the record is read again
    once the server changes it)."""
    report = engine.report
    for exc in set_aside:
        log.warning("pull: %s record set aside: %s", exc.what, exc.reason)
        report.set_aside += 1
        report.problems.append(str(exc))
        report.set_aside_reasons.append(f"{exc.what} record: {exc.reason}")
        if exc.server_id is None or exc.server_id not in known:
            continue
        case = s.scalar(select(Case).where(Case.server_id == exc.server_id))
        if case is not None:
            case.sync_state = SyncState.ERROR
            case.sync_error = (f"The server's copy of this case could not be read ({exc.reason}); "
                               "it was set aside and this computer's copy kept.")


def _new_case_row(remote: RemoteCase) -> tuple[Any, ...]:
    """A case first seen in a pull, as :class:`~desktop.models.search.CaseLoader` writes it
    (:data:`~desktop.models.search.NEW_CASE_FIELDS`)."""
    return (new_id(), remote.server_id, remote.numeric_id, remote.patient_name,
            remote.patient_age, remote.patient_gender, remote.case_summary, remote.status,
            remote.created_at, remote.updated_at)


def _claim_unsure_create(
    remote: RemoteCase, unsure: list[tuple[int, str, dict[str, Any] | None]]
) -> tuple[int, str, dict[str, Any] | None] | None:
    for item in unsure:
        if item[2] and matches_sent(remote, item[2]):
            return item
    return None


def _adopt_in_pull(
    engine: OutboxEngine, s: Session, claim: tuple[int, str, dict[str, Any] | None],
    remote: RemoteCase,
) -> None:
    """A case we sent whose answer was lost: link it instead of pulling a second copy."""
    change_id, case_id, payload = claim
    case = s.get(Case, case_id)
    if case is None:
        return
    link_case(case, remote)
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
    engine.report.adopted += 1


# ---------------------------------------------------------------- the merge


def _merge_pulled(engine: OutboxEngine, s: Session, remotes: list[RemoteCase]) -> None:
    """Merge a pull's changed cases: the usual one (nothing queued, no open conflict) is
    written by one grouped UPDATE; the rest take the ORM path of :func:`merge_cases`.

    Only for the pull: these rows are never loaded as ORM objects in *s*, so the statements
    below cannot leave a stale object in the session behind them."""
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
        result = merge_case(base, mine, remote_fields(remote), CASE_FIELDS)
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
            engine.report.pulled_changed += 1
        grouped.setdefault(tuple(sorted(params)), []).append(params)
        rowids.append(row.rowid)
    table = Case.__table__
    with search_upkeep_batched(conn, rowids):
        for keys, batch in grouped.items():
            values: dict[str, Any] = {
                key[2:]: bindparam(key) for key in keys if key.startswith("v_")
            }
            values["numeric_id"] = func.coalesce(bindparam("v_numeric_id"), table.c.numeric_id)
            values.update(detail_stale=True, sync_state=SyncState.SYNCED, sync_error=None)
            s.execute(
                table.update().where(table.c.id == bindparam("b_id")).values(values), batch)
    if rest:
        merge_cases(engine, s, rest)


def merge_cases(engine: OutboxEngine, s: Session, remotes: list[RemoteCase]) -> None:
    """Three-way merge of changed server cases, with their local state loaded in bulk.

    A case counts as changed from the server when a value was taken or a conflict is new (or
    the server's side of it changed): the pull and the push's read-before-write both merge,
    and a change is counted by whichever sees it first."""
    report = engine.report
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
            result = merge_case(case.base, fields_of(case), remote_fields(remote), CASE_FIELDS)
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
            news = False
            for c in result.conflicts:
                existing = conflicts.get((case.id, c.field))
                if existing is None:
                    conflict = Conflict(case_id=case.id, field=c.field, base_value=c.base,
                                        local_value=c.mine, server_value=c.theirs,
                                        server_changed_at=remote.updated_at)
                    s.add(conflict)
                    conflicts[(case.id, c.field)] = conflict
                    report.conflicts += 1
                    news = True
                else:
                    if not same_value(existing.server_value, c.theirs):
                        existing.server_changed_at = remote.updated_at
                        news = True
                    existing.local_value, existing.server_value = c.mine, c.theirs
            if result.take or news:
                report.pulled_changed += 1
            has_conflict = any(key[0] == case.id for key in conflicts)
            if (case.id not in busy and not has_conflict
                    and case.sync_state != SyncState.REMOVED_REMOTELY):
                case.sync_state, case.sync_error = SyncState.SYNCED, None
            elif case.id in busy or has_conflict:
                settle_sync_state(s, case)


# Queued work that is no loss when the case is gone from the server: it was going away too,
# or asked the server for something about it.
_MOOT = (ChangeKind.REMOVE_DOCUMENT, ChangeKind.DELETE_CASE, ChangeKind.ANALYZE_CASE)


def _removed_remotely(engine: OutboxEngine, s: Session, server_id: str, keep: bool) -> None:
    case = s.scalar(select(Case).where(Case.server_id == server_id))
    if case is None:
        return
    case_id = case.id
    if case.removed_at is not None and not keep:  # deleted here too: nothing to keep
        s.delete(case)
        engine.report.removed_remotely += 1
        return
    work = s.scalar(
        select(func.count()).select_from(PendingChange).where(
            PendingChange.case_id == case_id, PendingChange.kind.not_in(_MOOT))
    ) or s.scalar(
        select(func.count()).select_from(Conflict).where(
            Conflict.case_id == case_id, Conflict.resolved_at.is_(None))
    )
    if keep or work:
        case.sync_state = SyncState.REMOVED_REMOTELY
        case.sync_error = ("This case is no longer on the server; it is kept here with any "
                           "unsynced work.")
        if work and not keep:
            changed_here_deleted_there(engine, s, case)
    else:
        s.delete(case)
    engine.report.removed_remotely += 1


def changed_here_deleted_there(engine: OutboxEngine, s: Session, case: Case) -> None:
    """A case with this computer's unsent work is gone from the server: a conflict the person
    settles (put it back there, or delete it here too), never a silent loss of either."""
    if s.scalar(select(Conflict.id).where(
            Conflict.case_id == case.id, Conflict.field == DELETION,
            Conflict.resolved_at.is_(None))) is not None:
        return
    mine: dict[str, Any] = fields_of(case)
    mine["documents"] = sum(1 for d in case.documents if d.removed_at is None)
    s.add(Conflict(case_id=case.id, field=DELETION, base_value=case.base, local_value=mine,
                   server_value={"deleted": True}))
    engine.report.conflicts += 1


# ---------------------------------------------------------------- helpers


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _page_cache(db: Any, kib: int) -> Iterator[None]:
    """SQLite's page cache of *db* held to *kib* for the block: a pull of 100,000 cases
    writes ~80 MiB of pages, which the cache of an encrypted file (64 MiB, kept for the
    list's searches) would otherwise hold as they were written. Pages past it go to the
    write-ahead log before the commit, as they would at the commit."""
    (previous,) = db.execute("PRAGMA cache_size").fetchone()
    db.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size = {int(previous)}")


def _data_version(db: Any) -> int:
    """SQLite's count of commits by other connections, as this connection has seen them."""
    return int(db.execute("PRAGMA data_version").fetchone()[0])


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
