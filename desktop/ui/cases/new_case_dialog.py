"""The New case dialog: all fields, validated inline with the Workspace's own rules."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.cases.fields import FieldError, check, status_combo, with_error
from desktop.workspace import (
    KNOWN_GENDERS,
    MAX_AGE,
    validate_age,
    validate_gender,
    validate_name,
    validate_status,
    validate_summary,
)


@dataclass(frozen=True)
class NewCase:
    patient_name: str
    patient_age: int
    patient_gender: str
    case_summary: str | None
    status: str


class NewCaseDialog(QDialog):
    """Asks for a new case; ``value`` holds the validated fields after accept()."""

    def __init__(self, parent: QWidget | None = None, reason: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New case")
        self.setModal(True)
        self.value: NewCase | None = None

        self.name = QLineEdit(self)
        self.name.setAccessibleName("Patient name")
        self.name.setPlaceholderText("Full name")
        self.age = QSpinBox(self)
        self.age.setRange(0, MAX_AGE)
        self.age.setValue(0)
        self.age.setSuffix(" years")
        self.age.setAccessibleName("Age")
        self.gender = QComboBox(self)
        self.gender.setEditable(True)
        self.gender.addItems(list(KNOWN_GENDERS))
        self.gender.setCurrentIndex(-1)
        self.gender.setAccessibleName("Gender")
        self.gender.lineEdit().setPlaceholderText("female, male, other, unknown…")
        self.status = status_combo(self)
        self.status.setCurrentText("pending")
        self.notes = QPlainTextEdit(self)
        self.notes.setAccessibleName("Notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setPlaceholderText("Doctor's notes (optional)")
        self.name_error, self.age_error = FieldError(self), FieldError(self)
        self.gender_error, self.status_error = FieldError(self), FieldError(self)

        form = QFormLayout()
        form.addRow("&Patient name:", with_error(self.name, self.name_error))
        form.addRow("&Age:", with_error(self.age, self.age_error))
        form.addRow("&Gender:", with_error(self.gender, self.gender_error))
        form.addRow("&Status:", with_error(self.status, self.status_error))
        form.addRow("&Notes:", self.notes)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create case")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if reason:
            hint = QLabel(reason, self)
            hint.setWordWrap(True)
            layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.resize(440, 380)

    def validate(self) -> NewCase | None:
        ok_name, name = check(validate_name, self.name.text(), self.name_error)
        ok_age, age = check(validate_age, self.age.value(), self.age_error)
        ok_gender, gender = check(validate_gender, self.gender.currentText(), self.gender_error)
        ok_status, status = check(validate_status, self.status.currentText(), self.status_error)
        if not (ok_name and ok_age and ok_gender and ok_status):
            return None
        return NewCase(name, age, gender, validate_summary(self.notes.toPlainText()), status)

    def accept(self) -> None:
        value = self.validate()
        if value is None:
            return  # errors are shown under the fields; the dialog stays open
        self.value = value
        super().accept()
