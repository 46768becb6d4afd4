"""The case list as a windowed table model over SQL.

The model holds only the ordered case ids (one cheap query, run off the GUI thread) and fetches
row records lazily, a block at a time, into a bounded cache: 100,000 cases cost 100,000 short
strings, not 100,000 widgets. Filtering and sorting happen in SQL through CaseQuery. A refresh
after an edit moves, inserts or removes rows instead of resetting the model, so the selection
and the scroll position survive.

A new query (filter or sort) loads in two phases: the first FIRST_PAGE ids (a few ms) replace the
list at once, then the full id list (up to ~100 ms at 100,000 cases) extends it with rows
inserted at the end. A keystroke thus updates the visible rows without waiting for ids nobody
sees yet.

The model listens to the runner's ``changed``: a written case shows at once, and the list is
re-read when members or order may have moved (after a save, an attach, a sync).
"""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor

from desktop.ui.cases.case_columns import (  # noqa: F401 - the column names are part of this API
    COL_AGE,
    COL_GENDER,
    COL_NAME,
    COL_STATUS,
    COL_SYNC,
    COL_UPDATED,
    COLUMNS,
    row_texts,
)
from desktop.ui.changes import Changes
from desktop.ui.icons import SYNC_LABELS, sync_icon
from desktop.ui.operations import OperationRunner, user_message
from desktop.workspace import CaseQuery, CaseRecord, Overtaken, Workspace

log = logging.getLogger(__name__)

BLOCK = 64  # rows fetched per lazy read, from the first one missed: two screenfuls, ~1.5 ms
BLOCK_ABOVE = 16  # and this many above it, for a view scrolled upwards
CACHE_LIMIT = 4096  # records kept; the rest are re-read when scrolled back into view
MAX_INCREMENTAL = 64  # more changed rows than this and a reset is cheaper than row moves
FEW_ROWS = 16  # rows looked up by a scan each; more at once build the row index
FIRST_PAGE = 256  # ids read first after a query change: several screenfuls, a few ms of SQL
# The full list is read this long after the first page is shown: the view lays out and paints
# the page first, without a worker building 100,000 strings competing for the GIL.
REST_DELAY_MS = 16
# A list of ids (or its row index) this long or longer, replaced, is let go a slice at a time
# while the window is idle: freeing a million ids at once took 20 ms, in the middle of the
# keystroke that replaced them, before its first page was shown.
RETIRE_FROM = 16_384
RETIRE_SLICE = 16_384

CaseIdRole = Qt.ItemDataRole.UserRole + 1
RecordRole = Qt.ItemDataRole.UserRole + 2

_ModelIndex = QModelIndex | QPersistentModelIndex
_DISPLAY = Qt.ItemDataRole.DisplayRole
_DECORATION = Qt.ItemDataRole.DecorationRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_ROLES = frozenset({_DISPLAY, _DECORATION, _TOOLTIP, _ALIGNMENT, _FOREGROUND, RecordRole,
                    CaseIdRole})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_ARCHIVED = QColor("#757575")


class ListDiff(NamedTuple):
    """How a new id list differs from *old*: ``removed`` and ``added`` as (row, id) in the old
    and the new list, top to bottom; rows ``start``..``end``-1 of the old list hold every
    difference, and ``kept`` is their kept ids in the new order."""

    old: list[str]
    removed: list[tuple[int, str]]
    added: list[tuple[int, str]]
    start: int
    end: int
    kept: list[str]


def list_diff(old: list[str], new: list[str]) -> ListDiff | None:
    """The rows removed, added and moved between *old* and *new*; None when more than
    MAX_INCREMENTAL rows come or go (a reset is cheaper then).

    The runs equal at either end are found by comparing slices, in C: an edit at a million
    cases moved one case and built sets of every id, 1 s of Python on the GUI thread; now
    only the rows between the first and the last difference are looked at."""
    limit = min(len(old), len(new))
    start = _equal_run(old, new, limit)
    tail = _equal_run(old[::-1], new[::-1], limit - start)
    old_mid, new_mid = old[start:len(old) - tail], new[start:len(new) - tail]
    old_set, new_set = set(old_mid), set(new_mid)
    removed = [(start + i, x) for i, x in enumerate(old_mid) if x not in new_set]
    added = [(start + j, x) for j, x in enumerate(new_mid) if x not in old_set]
    if len(removed) + len(added) > MAX_INCREMENTAL:
        return None
    kept = [x for x in new_mid if x in old_set]
    return ListDiff(old, removed, added, start, len(old) - tail, kept)


def _equal_run(a: list[str], b: list[str], limit: int) -> int:
    """How many leading items (at most *limit*) *a* and *b* share: slices compared in
    doubling steps, then halved down to the first difference."""
    low, step = 0, 64
    while low < limit:
        high = min(limit, low + step)
        if a[low:high] != b[low:high]:
            break
        low, step = high, step * 2
    else:
        return limit
    while high - low > 1:  # the first difference is in low..high-1
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _references(held: object) -> int:
    return sys.getrefcount(held)


def _unshared_references() -> int:
    """What _references counts for an object one caller's local name alone holds, on this
    interpreter (the count includes the call's own references)."""
    alone: list[str] = []
    return _references(alone)


_UNSHARED = _unshared_references()


def _shared(held: object) -> bool:
    """Whether anything holds *held* besides one local name of the caller's."""
    return _references(held) > _UNSHARED + 1  # + 1: this function's own parameter


def sync_tooltip(record: CaseRecord) -> str:
    label = SYNC_LABELS.get(record.sync_state, record.sync_state)
    if record.sync_error:
        return f"{label}: {record.sync_error}"
    if record.sync_state == "pending":
        return f"{label}: changes are kept on this computer until the next sync"
    if record.sync_state == "conflict":
        return f"{label}: this case was changed here and on the server; open it to choose"
    if record.sync_state == "removed_remotely":
        return f"{label}: the case was deleted on the server; your local copy is kept"
    return label


class CaseListModel(QAbstractTableModel):
    """Rows are case ids in query order; columns are the fields a clinician scans for."""

    count_changed = Signal(int)  # the exact number of rows, once the full list is in
    loading_changed = Signal(bool)  # True until the full list of the latest query is applied
    # A new query's first page is shown: at least this many rows match; the rest follow, then
    # count_changed and refreshed. Not emitted when the first page is already the whole list.
    first_page = Signal(int)
    refreshed = Signal()  # after a full query result was applied (tests and selection restore)
    failed = Signal(str)
    # Around row removals: a view keeps its open case rather than follow the selection to a
    # neighbour (the selection model moves "current" before rowsAboutToBeRemoved reaches others).
    removing = Signal(bool)
    # A new query's rows replace the list (the view shows the top of the new results) ...
    query_reset = Signal()
    # ... and a refresh of the same query is about to move, insert or remove rows (the view
    # notes which case is at its top, to keep it there).
    about_to_apply = Signal()

    def __init__(
        self, workspace: Workspace, runner: OperationRunner, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._ws = workspace
        self._runner = runner
        self._ids: list[str] = []
        self._rows: dict[str, int] | None = {}  # id → row, built on first need
        self._cache: OrderedDict[str, CaseRecord] = OrderedDict()
        self._texts: dict[str, tuple[str, ...]] = {}  # display strings per cached record
        self._query = CaseQuery()
        self._generation = 0
        self._loading = False
        self._reset_pending = False  # a query change whose first page is not shown yet
        self._partial = False  # _ids is a first page; the full list is on its way
        self._records_stale = False  # a refresh was asked for: cached records may be outdated
        self._retired: list[list[str] | dict[str, int]] = []  # let go when idle (_retire)
        self._retiring = QTimer(self)
        self._retiring.setInterval(0)
        self._retiring.timeout.connect(self._retire_slice)
        runner.changed.connect(self._changed)

    def _changed(self, changes: Changes, _initiator: object) -> None:
        """Another operation wrote: show its record now, then re-read what may have moved."""
        if changes.record is not None:
            self.update_record(changes.record)
        if changes.case_list or changes.cases is None:
            self.refresh()
        elif changes.cases:
            self.forget(changes.cases)

    # ------------------------------------------------------------ query

    @property
    def query(self) -> CaseQuery:
        return self._query

    def set_query(self, query: CaseQuery) -> None:
        if query != self._query:
            self._query = query
            # The cached records stay: they are as current as the rows on screen (every change
            # arrives through update_record or refresh), and a narrowed search shows mostly the
            # same cases, painted without a read.
            self._load(reset=True)

    def set_search(self, text: str) -> None:
        self.set_query(replace(self._query, search=text.strip() or None))

    def set_status_filter(self, status: str | None, include_archived: bool = False) -> None:
        self.set_query(replace(self._query, status=status, include_archived=include_archived))

    def refresh(self, reset: bool = False) -> None:
        """Re-read the ids (and, once shown, the records) after the cases changed."""
        self._records_stale = True
        self._load(reset)

    def _load(self, reset: bool) -> None:
        """Re-run the id query off the GUI thread; a newer load makes older results stale.

        ``reset`` (a new query) shows the first page first and then extends it; a plain refresh
        (after an edit or a sync) reads the full list and moves rows, keeping the scroll
        position deep in the list.
        """
        self._generation += 1
        generation = self._generation
        # A refresh overtaking a query change still owes the view that new query's reset.
        reset = reset or self._reset_pending
        self._reset_pending = reset
        self._set_loading(True)
        if reset:
            self._read_ids(
                generation, FIRST_PAGE, lambda ids: self._apply_first_page(generation, ids)
            )
        else:
            # The rows' moves are worked out beside the read (list_diff), against the list
            # shown now, which is never changed in place once a read may hold it.
            shown = self._ids
            self._read_ids(generation, None, lambda read: self._apply_read(generation, read),
                           against=shown)

    def _read_ids(
        self, generation: int, limit: int | None, success: Callable[[Any], None],
        against: list[str] | None = None,
    ) -> None:
        query = self._query
        ws = self._ws

        def overtaken() -> bool:
            return generation != self._generation

        def read() -> Any:
            if overtaken():
                return None  # overtaken while queued behind another read: skip the SQL
            try:
                # A full list stops as soon as a newer read takes its place.
                ids = ws.case_ids(query, limit=limit,
                                  overtaken=overtaken if limit is None else None)
            except Overtaken:
                return None
            if against is None:
                return ids
            return ids, (None if against == ids else list_diff(against, ids))

        self._runner.run(
            read,
            success=success,
            failure=lambda exc: self._failed(generation, exc),
            lane="read",
        )

    def _set_loading(self, loading: bool) -> None:
        if loading != self._loading:
            self._loading = loading
            self.loading_changed.emit(loading)

    @property
    def loading(self) -> bool:
        return self._loading

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._set_loading(False)
        self.failed.emit(user_message(exc))

    def _apply_first_page(self, generation: int, ids: list[str]) -> None:
        """Phase one of a new query: show its first rows now, then read the full list."""
        if generation != self._generation:
            return  # a newer query is on its way; this answer is stale
        self._reset_pending = False
        self._reset_to(ids, forget=self._records_stale)
        self._records_stale = False
        self.query_reset.emit()
        if len(ids) < FIRST_PAGE:
            self._finish()  # the first page is the whole answer
            return
        self._partial = True
        self.first_page.emit(len(ids))
        QTimer.singleShot(REST_DELAY_MS, self, lambda: self._read_rest(generation))

    def _read_rest(self, generation: int) -> None:
        if generation == self._generation:
            self._read_ids(generation, None, lambda ids: self._apply(generation, ids, False))

    def _apply_read(self, generation: int,
                    read: tuple[list[str], ListDiff | None] | None) -> None:
        if read is not None:  # None: overtaken before the read began
            self._apply(generation, read[0], False, read[1])

    def _apply(self, generation: int, ids: list[str], reset: bool,
               diff: ListDiff | None = None) -> None:
        if generation != self._generation:
            return  # a newer query is on its way; this answer is stale
        shown = len(self._ids)
        if not reset:
            self.about_to_apply.emit()
        if reset:
            self._reset_to(ids)
        elif self._partial and ids[:shown] == self._ids:
            # Phase two: the rows on screen are unchanged, the rest go below them (an insert,
            # not a reset: the selection and the scroll position stay).
            if self._records_stale and shown:  # a refresh overtook phase two: re-read values
                self._forget_all()
                self.dataChanged.emit(self.index(0, 0), self.index(shown - 1, len(COLUMNS) - 1))
            if len(ids) > shown:
                self.beginInsertRows(QModelIndex(), shown, len(ids) - 1)
                self._set_ids(ids)
                self.endInsertRows()
        elif not self._apply_incremental(ids, diff):
            self._reset_to(ids)  # includes a first page that changed (an edit) meanwhile
        self._records_stale = False  # every path above re-reads what is shown
        self._finish()

    def _reset_to(self, ids: list[str], forget: bool = True) -> None:
        self.beginResetModel()
        self._set_ids(ids)
        if forget:
            self._forget_all()
        self.endResetModel()

    def _finish(self) -> None:
        self._partial = False
        self._set_loading(False)
        self.count_changed.emit(len(self._ids))
        self.refreshed.emit()

    def _set_ids(self, ids: list[str]) -> None:
        old, rows = self._ids, self._rows
        self._ids = ids
        self._rows = None  # 100,000 entries cost ~15 ms: build only when a lookup needs it
        # One that anything else still holds is left alone: emptying it would change what
        # the holder sees.
        if old is not ids and not _shared(old):
            self._retire(old)
        if rows is not None and not _shared(rows):
            self._retire(rows)

    def _retire(self, held: list[str] | dict[str, int]) -> None:
        """Let a long list of ids (or a row index) go a slice at a time when idle, rather
        than now."""
        if len(held) < RETIRE_FROM:
            return
        self._retired.append(held)
        if not self._retiring.isActive():
            self._retiring.start()

    def _retire_slice(self) -> None:
        held = self._retired[-1]
        if isinstance(held, list):
            del held[-RETIRE_SLICE:]
        else:
            for _ in range(min(RETIRE_SLICE, len(held))):
                held.popitem()
        if not held:
            self._retired.pop()
        if not self._retired:
            self._retiring.stop()

    def _row_index(self) -> dict[str, int]:
        if self._rows is None:
            self._rows = {case_id: row for row, case_id in enumerate(self._ids)}
        return self._rows

    def _apply_incremental(self, new: list[str], diff: ListDiff | None = None) -> bool:
        """Turn old ids into new ones with row removals, insertions and moves; False = reset.

        *diff*: worked out beside the read (list_diff), used while the list shown is the one
        it was worked out against; else it is worked out here."""
        old = self._ids
        if (diff is None or diff.old is not old) and old == new:
            self._forget_all()  # values may have changed (a sync); re-read what is visible
            if new:
                self.dataChanged.emit(self.index(0, 0), self.index(len(new) - 1, len(COLUMNS) - 1))
            return True
        if diff is None or diff.old is not old:
            diff = list_diff(old, new)
        if diff is None:
            return False
        if diff.removed or diff.added:
            # A copy of its own to change: a read in flight may hold the list shown.
            rows = self._rows
            self._ids, self._rows = list(old), None
            if rows is not None and not _shared(rows):
                self._retire(rows)
        if diff.removed:
            self.removing.emit(True)
        for row, case_id in reversed(diff.removed):  # from the bottom: rows above keep theirs
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._ids[row]
            self._cache.pop(case_id, None)
            self._texts.pop(case_id, None)
            self.endRemoveRows()
        if diff.removed:
            self.removing.emit(False)
        end = diff.end - len(diff.removed)
        if self._ids[diff.start:end] != diff.kept:
            self._reorder(diff.start, end, diff.kept)
        for row, case_id in diff.added:  # top to bottom, each at its place in the new list
            self.beginInsertRows(QModelIndex(), row, row)
            self._ids.insert(row, case_id)
            self.endInsertRows()
        self._rows = None
        self._forget_all()  # moved rows were edited somewhere: re-read what is visible
        if new:
            self.dataChanged.emit(self.index(0, 0), self.index(len(new) - 1, len(COLUMNS) - 1))
        return self._ids == new

    def _reorder(self, start: int, end: int, kept: list[str]) -> None:
        """Rows start..end-1 take the order *kept*: a layout change keeps persistent indexes
        (the selection) on their cases."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        before = self._ids
        found: dict[str, int] = {}

        def moved(row: int) -> int:
            if not start <= row < end:
                return row
            case_id = before[row]
            if case_id not in found:
                found[case_id] = start + kept.index(case_id)  # a scan in C, for a few rows
            return found[case_id]

        self._set_ids(before[:start] + kept + before[end:])
        self.changePersistentIndexList(
            persistent, [self.index(moved(p.row()), p.column()) for p in persistent])
        self.layoutChanged.emit()

    # ------------------------------------------------------------ records

    def update_record(self, record: CaseRecord) -> None:
        """Show an edit at once (the caller refreshes afterwards for order and filter)."""
        row = self.row_of(record.id)
        if row is None:
            return
        self._remember(record)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def forget(self, case_ids: frozenset[str]) -> None:
        """These cases changed in ways the list does not order by: re-read them when shown."""
        # A few are found by a scan each; many at once by the row index.
        find = self._row_index().get if len(case_ids) > FEW_ROWS else self.row_of
        for case_id in case_ids:
            row = find(case_id)
            self._cache.pop(case_id, None)
            self._texts.pop(case_id, None)
            if row is not None:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def case_id(self, row: int) -> str | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, case_id: str) -> int | None:
        if self._rows is not None:
            return self._rows.get(case_id)
        try:
            # A few lookups: a scan in C each (~3 ms at a million ids) beats building the
            # index (~100 ms of Python there, on the GUI thread after every save).
            return self._ids.index(case_id)
        except ValueError:
            return None

    def record(self, row: int) -> CaseRecord | None:
        case_id = self.case_id(row)
        if case_id is None:
            return None
        record = self._cache.get(case_id)
        if record is None:
            self._fetch_block(row)
            record = self._cache.get(case_id)
        else:
            self._cache.move_to_end(case_id)
        return record

    def _fetch_block(self, row: int) -> None:
        """Read the rows around ``row`` not cached yet: one primary-key query, a few ms.

        A view paints top to bottom, so the first row it misses starts what it is about to
        ask for: the block runs from there down (a page down is one read, not two when the
        new page straddles two fixed blocks), with a few rows above it for a view scrolled
        upwards."""
        start = max(0, row - BLOCK_ABOVE)
        wanted = [i for i in self._ids[start : row + BLOCK] if i not in self._cache]
        try:
            found = self._ws.cases_by_id(wanted)
        except Exception:  # noqa: BLE001 - a row shows empty rather than break painting
            log.exception("reading a block of cases failed")
            return
        now = datetime.now().astimezone()  # "today" for the whole block, read once
        for case_id in wanted:
            if case_id in found:
                self._remember(found[case_id], now)

    def _remember(self, record: CaseRecord, now: datetime | None = None) -> None:
        self._cache[record.id] = record
        self._cache.move_to_end(record.id)
        # An analysis asked for here and not started on the server yet says so in Status.
        status = "requested" if record.analysis == "requested" else record.status
        self._texts[record.id] = row_texts(  # formatted once, not on every paint of every cell
            record.patient_name, record.patient_age, record.patient_gender, status,
            record.updated_at, record.sync_state, now,
        )
        while len(self._cache) > CACHE_LIMIT:
            old, _record = self._cache.popitem(last=False)
            self._texts.pop(old, None)

    def _forget_all(self) -> None:
        self._cache.clear()
        self._texts.clear()

    @property
    def ids(self) -> Sequence[str]:
        return self._ids

    # ------------------------------------------------------------ Qt model API

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Called ~800 times per repaint of the list: constants, no enum lookups, and the
        # cache's recency updated once per row (its name cell), not once per call.
        if role not in _ROLES:
            return None  # the view asks ~10 roles per cell; most are not ours
        row = index.row()
        if not 0 <= row < len(self._ids) or not index.isValid():
            return None
        case_id = self._ids[row]
        if role == CaseIdRole:
            return case_id
        column = index.column()
        record = self._cache.get(case_id)
        if record is None:
            record = self.record(row)
            if record is None:
                return "…" if role == _DISPLAY and column == COL_NAME else None
        elif role == _DISPLAY and column == COL_NAME:
            self._cache.move_to_end(case_id)
        if role == _DISPLAY:
            return self._texts[case_id][column]
        if role == RecordRole:
            return record
        if role == _DECORATION and column == COL_SYNC:
            return sync_icon(record.sync_state)
        if role == _TOOLTIP and column == COL_SYNC:
            return sync_tooltip(record)
        if role == _ALIGNMENT and column == COL_AGE:
            return _RIGHT
        if role == _FOREGROUND and column == COL_STATUS and record.status == "archived":
            return _ARCHIVED
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self.set_query(
            replace(
                self._query,
                sort=COLUMNS[column][1],
                descending=order == Qt.SortOrder.DescendingOrder,
            )
        )
