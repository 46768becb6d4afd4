"""Fields changed both here and on the server: base / mine / theirs, and a choice per field."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.changes import Changes
from desktop.ui.operations import OperationRunner, user_message
from desktop.workspace import ConflictRecord, Workspace

FIELD_LABELS = {
    "patient_name": "Patient name",
    "patient_age": "Age",
    "patient_gender": "Gender",
    "case_summary": "Notes",
    "status": "Status",
}
COLUMNS = ("Patient", "Field", "Before (base)", "Mine", "Theirs (server)")
_Index = QModelIndex | QPersistentModelIndex


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return str(value)


class ConflictModel(QAbstractTableModel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[ConflictRecord] = []

    def set_rows(self, rows: list[ConflictRecord]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        values = (row.patient_name, FIELD_LABELS.get(row.field, row.field),
                  _show(row.base_value), _show(row.local_value), _show(row.server_value))
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return values[index.column()]
        return None


class ConflictsDialog(QDialog):
    def __init__(self, workspace: Workspace, runner: OperationRunner,
                 parent: QWidget | None = None, case_id: str | None = None) -> None:
        super().__init__(parent)
        self.ws, self.runner, self.case_id = workspace, runner, case_id
        self.setWindowTitle("Conflicts to resolve")
        self.setAccessibleName("Conflicts")
        self.resize(820, 360)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "These fields were changed both on this computer and on the server. Nothing was "
            "overwritten: choose which value to keep for each.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.model = ConflictModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setAccessibleName("Conflicting fields")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.status = QLabel(self)
        buttons.addWidget(self.status, 1)
        self.mine = QPushButton("Keep &mine", self)
        self.mine.setAccessibleName("Keep my value")
        self.theirs = QPushButton("Take &theirs", self)
        self.theirs.setAccessibleName("Take the server's value")
        close = QPushButton("Close", self)
        for b in (self.mine, self.theirs, close):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.mine.clicked.connect(lambda: self.resolve("mine"))
        self.theirs.clicked.connect(lambda: self.resolve("theirs"))
        close.clicked.connect(self.accept)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self._update_buttons()
        self.reload()

    def reload(self) -> None:
        self.runner.run(lambda: self.ws.conflicts(self.case_id), self._loaded, lane="read")

    def _loaded(self, rows: list[ConflictRecord]) -> None:
        self.model.set_rows(rows)
        self.table.resizeRowsToContents()
        self.status.setText("No conflicts left." if not rows else f"{len(rows)} to resolve")
        if rows:
            self.table.selectRow(0)
        self._update_buttons()

    def selected(self) -> ConflictRecord | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.rows[rows[0].row()] if rows else None

    def _update_buttons(self) -> None:
        enabled = self.selected() is not None
        self.mine.setEnabled(enabled)
        self.theirs.setEnabled(enabled)

    def resolve(self, choice: str) -> None:
        conflict = self.selected()
        if conflict is None:
            return

        self.runner.run(
            lambda: self.ws.resolve_conflict(conflict.case_id, conflict.field, choice),
            lambda _record: self.reload(),
            lambda error: self.status.setText(user_message(error)), lane="write",
            changes=lambda record: Changes.case_written(record), initiator=self)
