"""Fields changed both here and on the server: base / mine / theirs (and when the server
wrote it), and a choice per field: keep mine, take theirs, or, for text, write a merged value
starting from both. The side not kept stays readable in the case's history."""

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
from desktop.ui.sync.conflict_words import FIELD_LABELS, server_time, shown
from desktop.ui.sync.merge_dialog import MergeDialog
from desktop.workspace import DELETION, MERGEABLE_FIELDS, ConflictRecord, Workspace


def deletion_sides(row: ConflictRecord) -> tuple[str, str]:
    """(mine, theirs) of a case deleted on one side and changed on the other, in words."""
    if row.local_value == {"deleted": True}:
        theirs = row.server_value or {}
        changed = ", ".join(FIELD_LABELS.get(f, f) for f in theirs.get("changed_fields") or [])
        files = ", ".join(theirs.get("new_files") or [])
        said = "; ".join(filter(None, [f"changed {changed}" if changed else "",
                                       f"new files: {files}" if files else ""]))
        return "Deleted on this computer", f"Changed on the server ({said})"
    return "Changed on this computer, not yet sent", "Deleted on the server"

COLUMNS = ("Patient", "Field", "Before (base)", "Mine", "Theirs (server)", "Server wrote it")
_Index = QModelIndex | QPersistentModelIndex


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
                  shown(row.base_value), shown(row.local_value), shown(row.server_value),
                  server_time(row.server_changed_at) or "unknown")
        if row.field == DELETION:
            values = (row.patient_name, "The whole case", "—", *deletion_sides(row),
                      server_time(row.server_changed_at) or "unknown")
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
        self.resize(980, 380)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "These fields were changed both on this computer and on the server. Nothing was "
            "overwritten: keep yours, take the server's, or for text write one value from "
            "both. The value not kept stays readable in the case's History.", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.model = ConflictModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setAccessibleName("Conflicting fields")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.setTabKeyNavigation(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        buttons.addWidget(self.status, 1)
        self.mine = QPushButton("Keep &mine", self)
        self.mine.setAccessibleName("Keep my value")
        self.theirs = QPushButton("Take &theirs", self)
        self.theirs.setAccessibleName("Take the server's value")
        self.merge = QPushButton("&Edit a merged value…", self)
        self.merge.setAccessibleName("Edit a merged value")
        self.merge.setToolTip("For text: write one value from both versions, side by side")
        close = QPushButton("Close", self)
        close.setAccessibleName("Close")
        for b in (self.mine, self.theirs, self.merge, close):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.mine.clicked.connect(lambda: self.resolve("mine"))
        self.theirs.clicked.connect(lambda: self.resolve("theirs"))
        self.merge.clicked.connect(self.edit_merged)
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
        selected = self.selected()
        enabled = selected is not None
        self.mine.setEnabled(enabled)
        self.theirs.setEnabled(enabled)
        self.merge.setEnabled(selected is not None and selected.field in MERGEABLE_FIELDS)
        if selected is not None and selected.field == DELETION:
            deleted_here = selected.local_value == {"deleted": True}
            self.status.setText(
                "Keep mine: delete it on the server anyway. Take theirs: keep the case, with "
                "the server's changes." if deleted_here else
                "Keep mine: put it back on the server, with its files. Take theirs: delete it "
                "here too.")

    def ask_merged(self, conflict: ConflictRecord) -> tuple[bool, Any]:
        """The merge editor: (accepted, merged value); an emptied note is a value too."""
        dialog = MergeDialog(conflict, self)
        try:
            accepted = dialog.exec() == QDialog.DialogCode.Accepted
            return accepted, dialog.value
        finally:
            dialog.deleteLater()

    def edit_merged(self) -> None:
        conflict = self.selected()
        if conflict is None or conflict.field not in MERGEABLE_FIELDS:
            return
        accepted, value = self.ask_merged(conflict)
        if accepted:
            self.resolve("merged", value)

    def resolve(self, choice: str, value: Any = None) -> None:
        conflict = self.selected()
        if conflict is None:
            return

        self.runner.run(
            lambda: self.ws.resolve_conflict(conflict.case_id, conflict.field, choice, value),
            lambda _record: self.reload(),
            lambda error: self.status.setText(user_message(error)), lane="write",
            changes=lambda record: Changes.case_written(record), initiator=self)
