"""Move to…: pick the case a document goes to, by searching names as in the case list (read
off the GUI thread, the first 50 matches)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.operations import OperationRunner
from desktop.workspace import CaseQuery, CaseRecord, Workspace

SHOWN = 50


class MoveDialog(QDialog):
    """``chosen`` holds (case id, patient name) after accept()."""

    def __init__(self, workspace: Workspace, runner: OperationRunner, document: str,
                 from_case: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws, self.runner, self.from_case = workspace, runner, from_case
        self.chosen: tuple[str, str] | None = None
        self.setWindowTitle("Move document")
        intro = QLabel(f"Move “{document}” to the case of:", self)
        intro.setWordWrap(True)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search names and notes")
        self.search.setAccessibleName("Search cases")
        self.list = QListWidget(self)
        self.list.setAccessibleName("Cases to move to")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.move_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.move_button.setText("&Move here")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.list.currentRowChanged.connect(lambda _r: self._update())
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        layout = QVBoxLayout(self)
        for widget in (intro, self.search, self.list, self.buttons):
            layout.addWidget(widget)
        self.resize(460, 420)
        self._generation = 0
        self._update()
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        generation, query = self._generation, CaseQuery(search=self.search.text() or None)

        def done(records: list[CaseRecord]) -> None:
            if generation != self._generation:
                return
            self.list.clear()
            for record in records:
                if record.id == self.from_case:
                    continue
                item = QListWidgetItem(
                    f"{record.patient_name}, {record.patient_age}, {record.patient_gender}"
                    f" — {record.status}")
                item.setData(Qt.ItemDataRole.UserRole, (record.id, record.patient_name))
                self.list.addItem(item)
            if self.list.count():
                self.list.setCurrentRow(0)
            self._update()

        self.runner.run(lambda: self.ws.list_cases(query, limit=SHOWN + 1), done, lane="read")

    def _update(self) -> None:
        self.move_button.setEnabled(self.list.currentItem() is not None)

    def accept(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        self.chosen = item.data(Qt.ItemDataRole.UserRole)
        super().accept()
