"""Form pieces shared by the case view and the new-case dialog: the age field, inline errors
that follow the field as it is edited, labelled rows whose underlined letter focuses the field,
and the status combo.

Nothing here changes what a person typed: the age is plain text checked by the Workspace's own
rule (a spin box silently drops the third digit of 200), and a wrong value stays on screen with
its message until the person fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from desktop.errors import ValidationError
from desktop.workspace import KNOWN_STATUSES, MAX_AGE


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

    @property
    def showing(self) -> bool:
        return not self.isHidden()


class AgeField(QLineEdit):
    """Age in whole years, as typed: never clamped, truncated or defaulted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Age")
        self.setPlaceholderText(f"years, 0–{MAX_AGE}")
        self.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly)
        self.setMaximumWidth(self.fontMetrics().horizontalAdvance("0" * 16) + 24)


def with_error(field: QWidget, error: FieldError) -> QWidget:
    """The field with its error label underneath, as one form row."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(field)
    layout.addWidget(error)
    return box


def add_row(form: QFormLayout, text: str, field: QWidget,
            error: FieldError | None = None) -> QLabel:
    """A form row whose label's underlined letter (``&``) focuses the field itself, not the
    box that holds it with its error."""
    label = QLabel(text)
    label.setBuddy(field)
    form.addRow(label, with_error(field, error) if error is not None else field)
    return label


def check(validator: Callable[[Any], Any], value: Any, error: FieldError) -> tuple[bool, Any]:
    """Run a Workspace validator; show its message under the field. Returns (ok, clean value)."""
    try:
        clean = validator(value)
    except ValidationError as exc:
        error.show_error(str(exc))
        return False, None
    error.show_error(None)
    return True, clean


def follow(changed: Any, validator: Callable[[Any], Any], value: Callable[[], Any],
           error: FieldError, as_typed: bool = False) -> None:
    """Keep a field's message true while it is edited: a shown message goes as soon as the
    value is right (or changes to the new problem). ``as_typed`` also shows a problem the
    moment it is typed (an age of 200), except for an empty field, which is only reported
    when the person saves."""

    def recheck(*_args: object) -> None:
        current = value()
        if error.showing or (as_typed and str(current).strip()):
            check(validator, current, error)

    changed.connect(recheck)


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
