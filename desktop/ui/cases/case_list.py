"""The case list panel: search box, status filter, the windowed table and its count.

It keeps the open case selected across refreshes (rows move, come and go after edits and
syncs) and tells the window when the person picks another case; the window decides whether
it may be opened (unsaved edits). The model refreshes itself from the runner's ``changed``.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from desktop.ui.cases.case_list_model import CaseListModel
from desktop.ui.cases.case_table import CaseTable
from desktop.ui.operations import OperationRunner
from desktop.ui.wording import search_note
from desktop.workspace import KNOWN_STATUSES, Workspace

SEARCH_DEBOUNCE_MS = 200

# Status filter entries: label → (status, include_archived)
STATUS_FILTERS: list[tuple[str, str | None, bool]] = [
    ("All active", None, False),
    *[(s.capitalize(), s, False) for s in KNOWN_STATUSES if s != "archived"],
    ("Archived", "archived", True),
    ("All, including archived", None, True),
]


class CaseListPanel(QWidget):
    case_chosen = Signal(str)  # the person selected another case than the open one

    def __init__(self, workspace: Workspace, runner: OperationRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = CaseListModel(workspace, runner, self)
        self.open_case_id: str | None = None  # the case the window shows
        self._select_after_refresh: str | None = None
        self._restoring_selection = False

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search names and notes (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search cases")
        self.status_filter = QComboBox(self)
        self.status_filter.setAccessibleName("Status filter")
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
        self.table.setSortingEnabled(True)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)

        self.count_label = QLabel(self)
        self.count_label.setAccessibleName("Number of cases shown")
        top = QHBoxLayout()
        top.addWidget(self.search, 3)
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
        # Rows leaving the list (an archived case) must not open the neighbouring case.
        self.model.removing.connect(self._hold_selection)

    # ------------------------------------------------------------ the person's input

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _status_filter_changed(self, index: int) -> None:
        status, archived = self.status_filter.itemData(index)
        self.model.set_status_filter(status, archived)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._restoring_selection:
            return
        case_id = self.model.case_id(current.row()) if current.isValid() else None
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

    def _after_refresh(self) -> None:
        """Keep the open case selected across refreshes, or select a just-created case."""
        wanted = self._select_after_refresh or self.open_case_id
        self._select_after_refresh = None
        if wanted is None:
            return
        row = self.model.row_of(wanted)
        current = self.table.currentIndex()
        if row is None:
            if current.isValid():
                self._set_current_row(-1)
            return
        if not current.isValid() or current.row() != row:
            self._set_current_row(row, notify=self.open_case_id != wanted)
        self.table.scrollTo(self.model.index(row, 0))

    def _hold_selection(self, hold: bool) -> None:
        self._restoring_selection = hold

    def _set_current_row(self, row: int, notify: bool = False) -> None:
        """Move the list's selection; notify=False keeps the open case untouched."""
        self._restoring_selection = not notify
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
