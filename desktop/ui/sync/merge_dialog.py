"""Write a merged value for a text field in conflict: both versions side by side, read-only,
and an editor that starts with both, so nothing a clinician wrote on either side is lost
unless someone removes it on purpose. The server's side says when it was written."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.errors import ValidationError
from desktop.ui.cases.fields import FieldError
from desktop.ui.dialogs import GuardedDialog
from desktop.ui.sync.conflict_words import FIELD_LABELS, server_time, shown
from desktop.workspace import VALIDATORS, ConflictRecord

MULTI_LINE = ("case_summary",)


def starting_text(conflict: ConflictRecord) -> str:
    """Both versions for notes (yours, then the server's); yours for one-line fields."""
    mine = "" if conflict.local_value is None else str(conflict.local_value)
    theirs = "" if conflict.server_value is None else str(conflict.server_value)
    if conflict.field not in MULTI_LINE:
        return mine
    return "\n\n".join(part for part in (mine.strip("\n"), theirs.strip("\n")) if part)


class MergeDialog(GuardedDialog):
    """``value`` holds the validated merged value after accept()."""

    discard_what = "the merged text"

    def __init__(self, conflict: ConflictRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conflict = conflict
        self.value: Any = None
        label = FIELD_LABELS.get(conflict.field, conflict.field)
        self.setWindowTitle(f"Merge {label.lower()} — {conflict.patient_name}")
        multi = conflict.field in MULTI_LINE

        def side(text: Any, name: str) -> QPlainTextEdit:
            box = QPlainTextEdit(self)
            box.setPlainText(shown(text))
            box.setReadOnly(True)
            box.setAccessibleName(name)
            box.setTabChangesFocus(True)
            if not multi:
                box.setMaximumHeight(box.fontMetrics().height() * 3 + 12)
            return box

        self.mine = side(conflict.local_value, "Your version")
        self.theirs = side(conflict.server_value, "The server's version")
        when = server_time(conflict.server_changed_at)
        grid = QGridLayout()
        grid.addWidget(QLabel("<b>Yours</b> (changed on this computer)", self), 0, 0)
        grid.addWidget(QLabel(f"<b>The server's</b> (written {when})" if when
                              else "<b>The server's</b>", self), 0, 1)
        grid.addWidget(self.mine, 1, 0)
        grid.addWidget(self.theirs, 1, 1)

        start = starting_text(conflict)
        self._start = start
        editor_label = QLabel("&Merged value (edit it to keep what is right from each side):",
                              self)
        if multi:
            self.editor: QPlainTextEdit | QLineEdit = QPlainTextEdit(self)
            self.editor.setPlainText(start)
            self.editor.setTabChangesFocus(True)
        else:
            self.editor = QLineEdit(start, self)
        self.editor.setAccessibleName(f"Merged {label.lower()}")
        editor_label.setBuddy(self.editor)
        self.error = FieldError(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.use_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.use_button.setText("&Use the merged value")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(grid, 1)
        layout.addWidget(editor_label)
        layout.addWidget(self.editor, 2 if multi else 0)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.editor.setFocus(Qt.FocusReason.OtherFocusReason)
        self.resize(760, 560 if multi else 300)

    def text(self) -> str:
        if isinstance(self.editor, QPlainTextEdit):
            return self.editor.toPlainText()
        return self.editor.text()

    def has_typed_text(self) -> bool:
        return self.text() != self._start

    def accept(self) -> None:
        try:
            self.value = VALIDATORS[self.conflict.field](self.text())
        except ValidationError as exc:
            self.error.show_error(str(exc))
            return
        super().accept()
