"""Form pieces shared by the case view and the new-case dialog: inline errors and the status combo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from desktop.errors import ValidationError
from desktop.workspace import KNOWN_STATUSES


class FieldError(QLabel):
    """Red text under a field; hidden while the field is fine."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet("color: #c62828;")
        self.setWordWrap(True)
        self.setAccessibleName("Field error")
        self.hide()

    def show_error(self, message: str | None) -> None:
        self.setText(message or "")
        self.setVisible(bool(message))


def with_error(field: QWidget, error: FieldError) -> QWidget:
    """The field with its error label underneath, as one form row."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(field)
    layout.addWidget(error)
    return box


def check(validator: Callable[[Any], Any], value: Any, error: FieldError) -> tuple[bool, Any]:
    """Run a Workspace validator; show its message under the field. Returns (ok, clean value)."""
    try:
        clean = validator(value)
    except ValidationError as exc:
        error.show_error(str(exc))
        return False, None
    error.show_error(None)
    return True, clean


def status_combo(parent: QWidget | None = None) -> QComboBox:
    """Known statuses plus free text: a server may send values we do not know yet."""
    combo = QComboBox(parent)
    combo.setEditable(True)
    combo.addItems(list(KNOWN_STATUSES))
    combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    combo.setAccessibleName("Status")
    return combo


def set_status(combo: QComboBox, status: str) -> None:
    if combo.findText(status) < 0:
        combo.addItem(status)
    combo.setCurrentText(status)
