"""The case list panel: search box, status filter, the windowed table and its count.

It keeps the open case selected across refreshes (rows move, come and go after edits and
syncs) and tells the window when the person picks another case; the window decides whether
it may be opened (unsaved edits). The model refreshes itself from the runner's ``changed``.

The view stays where the person left it: a refresh (a save, a sync) keeps the case at the top
of the list at the top, and never scrolls to the open case; a new search, filter or sort shows
the top of its results, with the open case still selected if it is among them. Every sort
order and filter is also an action (the View menu), so all of it works from the keyboard.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.cases.case_columns import (
    COL_UPDATED,
    COLUMNS,
    FILTER_ALL_ACTIVE,
    FILTER_EVERYTHING,
)
from desktop.ui.cases.case_list_model import CaseListModel
from desktop.ui.cases.case_table import CaseTable
from desktop.ui.operations import OperationRunner
from desktop.ui.wording import search_note
from desktop.workspace import KNOWN_STATUSES, Workspace

SEARCH_DEBOUNCE_MS = 200

# Status filter entries: label → (status, include_archived)
STATUS_FILTERS: list[tuple[str, str | None, bool]] = [
    (FILTER_ALL_ACTIVE, None, False),
    *[(s.capitalize(), s, False) for s in KNOWN_STATUSES if s != "archived"],
    ("Archived", "archived", True),
    (FILTER_EVERYTHING, None, True),
]
# The sort menu's words for each column (the underlined letter picks it in the menu).
SORT_LABELS = {"name": "&Patient name", "age": "&Age", "gender": "&Gender", "status": "&Status",
               "updated": "Last &updated", "sync": "S&ync state"}


class CaseListPanel(QWidget):
    case_chosen = Signal(str)  # the person selected another case than the open one

    def __init__(self, workspace: Workspace, runner: OperationRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = CaseListModel(workspace, runner, self)
        self.open_case_id: str | None = None  # the case the window shows
        self._select_after_refresh: str | None = None
        self._restoring_selection = False
        self._anchor: tuple[str, int] | None = None  # (case at the top, pixels above it)

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search names and notes (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search cases")
        self.status_filter = QComboBox(self)
        self.status_filter.setAccessibleName("Status filter")
        self.status_filter.setToolTip("Which cases the list shows")
        # A visible label, tied to the combo: screen readers on Linux name a combo box by its
        # label (Qt reports its value as its name otherwise).
        self.filter_label = QLabel("Sho&w:", self)
        self.filter_label.setBuddy(self.status_filter)
        for label, status, archived in STATUS_FILTERS:
            self.status_filter.addItem(label, (status, archived))
        self.status_filter.currentIndexChanged.connect(self._status_filter_changed)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.model.set_search(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._debounce.start())

        self.table = CaseTable(self)
        self.table.setObjectName("caseTable")
        self.table.setAccessibleName("Cases")
        self.table.setModel(self.model)
        self.table.apply_list_look()
        self.table.horizontalHeader().setSortIndicator(COL_UPDATED, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        # Opening follows the selection, not the "current" cell: Tab into the list marks its
        # first row current without opening that patient.
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.count_label = QLabel(self)
        self.count_label.setAccessibleName("Number of cases shown")
        top = QHBoxLayout()
        top.addWidget(self.search, 3)
        top.addWidget(self.filter_label)
        top.addWidget(self.status_filter, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

        self.model.count_changed.connect(self._count_changed)
        self.model.first_page.connect(
            lambda n: self.count_label.setText(f"at least {n:,} cases…"))
        self.model.loading_changed.connect(self._loading_changed)
        self.model.refreshed.connect(self._after_refresh)
        self.model.query_reset.connect(self._query_reset)
        self.model.about_to_apply.connect(self._note_anchor)
        # Rows leaving the list (an archived case) must not open the neighbouring case.
        self.model.removing.connect(self._hold_selection)
        self._build_view_actions()

    # ------------------------------------------------------------ actions (the View menu)

    def _build_view_actions(self) -> None:
        """Sort by any column, in either order, and every filter: as checkable actions."""
        self.sort_group = QActionGroup(self)
        self.sort_actions: list[QAction] = []
        for column, (_header, key) in enumerate(COLUMNS):
            act = QAction(SORT_LABELS.get(key, key), self)
            act.setCheckable(True)
            act.setData(column)
            act.triggered.connect(lambda _c=False, col=column: self.sort_by(col))
            self.sort_group.addAction(act)
            self.sort_actions.append(act)
        self.order_group = QActionGroup(self)
        self.ascending_action = QAction("&Ascending (A to Z, oldest first)", self)
        self.descending_action = QAction("&Descending (Z to A, newest first)", self)
        for act, order in ((self.ascending_action, Qt.SortOrder.AscendingOrder),
                           (self.descending_action, Qt.SortOrder.DescendingOrder)):
            act.setCheckable(True)
            act.triggered.connect(lambda _c=False, o=order: self.sort_order(o))
            self.order_group.addAction(act)
        self.filter_group = QActionGroup(self)
        self.filter_actions: list[QAction] = []
        for index, (label, _status, _archived) in enumerate(STATUS_FILTERS):
            act = QAction(label, self)
            act.setCheckable(True)
            act.triggered.connect(lambda _c=False, i=index: self.status_filter.setCurrentIndex(i))
            self.filter_group.addAction(act)
            self.filter_actions.append(act)
        header = self.table.horizontalHeader()
        header.sortIndicatorChanged.connect(lambda _s, _o: self._show_sort())
        self.status_filter.currentIndexChanged.connect(lambda _i: self._show_filter())
        self._show_sort()
        self._show_filter()

    def sort_by(self, column: int) -> None:
        header = self.table.horizontalHeader()
        self.table.sortByColumn(column, header.sortIndicatorOrder())

    def sort_order(self, order: Qt.SortOrder) -> None:
        self.table.sortByColumn(self.table.horizontalHeader().sortIndicatorSection(), order)

    def _show_sort(self) -> None:
        header = self.table.horizontalHeader()
        section = header.sortIndicatorSection()
        for act in self.sort_actions:
            act.setChecked(act.data() == section)
        descending = header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        (self.descending_action if descending else self.ascending_action).setChecked(True)

    def _show_filter(self) -> None:
        index = self.status_filter.currentIndex()
        if 0 <= index < len(self.filter_actions):
            self.filter_actions[index].setChecked(True)

    # ------------------------------------------------------------ the person's input

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def focus_list(self) -> None:
        self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _status_filter_changed(self, index: int) -> None:
        status, archived = self.status_filter.itemData(index)
        self.model.set_status_filter(status, archived)

    def _selection_changed(self, *_args: object) -> None:
        if self._restoring_selection:
            return
        rows = self.table.selectionModel().selectedRows()
        case_id = self.model.case_id(rows[0].row()) if len(rows) == 1 else None
        if case_id is not None and case_id != self.open_case_id:
            self.case_chosen.emit(case_id)

    # ------------------------------------------------------------ what the window asks

    def select_when_listed(self, case_id: str) -> None:
        """Select (and open) a case once a refresh lists it: a case just created."""
        self._select_after_refresh = case_id

    def reselect_open_case(self) -> None:
        """Put the selection back on the open case (the person cancelled leaving it)."""
        row = self.model.row_of(self.open_case_id) if self.open_case_id else None
        self._set_current_row(-1 if row is None else row)

    def row_label(self, row: int) -> tuple[str, str] | None:
        record = self.model.record(row)
        return (record.id, record.patient_name) if record else None

    # ------------------------------------------------------------ keeping the selection

    def _count_changed(self, count: int) -> None:
        text = f"{count:,} case{'s' if count != 1 else ''}"
        note = search_note(self.model.query)
        self.count_label.setText(f"{text} — {note}" if note else text)

    def _loading_changed(self, loading: bool) -> None:
        if loading and not self.model.ids:
            self.count_label.setText("Loading…")

    def _query_reset(self) -> None:
        """A new search, filter or sort: its first results from the top, the open case still
        selected if it is among them."""
        self._anchor = None
        row = self.model.row_of(self.open_case_id) if self.open_case_id else None
        if row is not None:
            self._set_current_row(row)
        self.table.scrollToTop()

    def _note_anchor(self) -> None:
        if self._anchor is not None:
            return  # the first change of this refresh already noted it
        top = self.table.rowAt(0)
        case_id = self.model.case_id(top) if top >= 0 else None
        if case_id is not None:
            self._anchor = (case_id, self.table.rowViewportPosition(top))

    def _restore_anchor(self) -> None:
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        row = self.model.row_of(anchor[0])
        if row is None:
            return  # the top case left the list: the view stays at the same offset
        bar = self.table.verticalScrollBar()
        if self.table.verticalScrollMode() == QAbstractItemView.ScrollMode.ScrollPerItem:
            bar.setValue(row)
        else:
            bar.setValue(row * self.table.rowHeight(row) - anchor[1])

    def _after_refresh(self) -> None:
        """Keep the open case selected across refreshes, or select a just-created case; the
        list stays where it was (a just-created case is scrolled into view)."""
        created = self._select_after_refresh
        wanted = created or self.open_case_id
        self._select_after_refresh = None
        if wanted is not None:
            row = self.model.row_of(wanted)
            current = self.table.currentIndex()
            if row is None:
                if current.isValid():
                    self._set_current_row(-1)
            elif not current.isValid() or current.row() != row:
                self._set_current_row(row, notify=self.open_case_id != wanted)
        self._restore_anchor()
        row = self.model.row_of(created) if created else None
        if row is not None:
            self.table.scrollTo(self.model.index(row, 0))

    def _hold_selection(self, hold: bool) -> None:
        self._restoring_selection = hold

    def _set_current_row(self, row: int, notify: bool = False) -> None:
        """Move the list's selection without scrolling; notify=False keeps the open case
        untouched."""
        self._restoring_selection = not notify
        bars = (self.table.verticalScrollBar(), self.table.horizontalScrollBar())
        offsets = [bar.value() for bar in bars]
        try:
            sm = self.table.selectionModel()
            if row < 0:
                sm.clearCurrentIndex()
                sm.clearSelection()
            else:
                sm.setCurrentIndex(
                    self.model.index(row, 0),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
        finally:
            self._restoring_selection = False
            for bar, value in zip(bars, offsets, strict=True):
                bar.setValue(value)
