"""The New case dialog: all fields, validated inline with the Workspace's own rules.

It opens on the patient name and tabs in reading order; no field starts with a made-up value
(the age is empty until typed), and Escape with typed text asks before throwing it away.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.cases.fields import AgeField, FieldError, add_row, check, follow, status_combo
from desktop.ui.dialogs import GuardedDialog
from desktop.workspace import (
    KNOWN_GENDERS,
    validate_age,
    validate_gender,
    validate_name,
    validate_status,
    validate_summary,
)

DEFAULT_STATUS = "pending"


@dataclass(frozen=True)
class NewCase:
    patient_name: str
    patient_age: int
    patient_gender: str
    case_summary: str | None
    status: str


class NewCaseDialog(GuardedDialog):
    """Asks for a new case; ``value`` holds the validated fields after accept()."""

    discard_what = "this new case"

    def __init__(self, parent: QWidget | None = None, reason: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New case")
        self.setModal(True)
        self.value: NewCase | None = None

        self.name = QLineEdit(self)
        self.name.setAccessibleName("Patient name")
        self.name.setPlaceholderText("Full name")
        self.age = AgeField(self)
        self.gender = QComboBox(self)
        self.gender.setEditable(True)
        self.gender.addItems(list(KNOWN_GENDERS))
        self.gender.setCurrentIndex(-1)
        self.gender.setAccessibleName("Gender")
        self.gender.lineEdit().setPlaceholderText("female, male, other, unknown…")
        self.status = status_combo(self)
        self.status.setCurrentText(DEFAULT_STATUS)
        self.notes = QPlainTextEdit(self)
        self.notes.setAccessibleName("Notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setPlaceholderText("Doctor's notes (optional)")
        self.name_error, self.age_error = FieldError(self), FieldError(self)
        self.gender_error, self.status_error = FieldError(self), FieldError(self)

        form = QFormLayout()
        add_row(form, "&Patient name:", self.name, self.name_error)
        add_row(form, "&Age:", self.age, self.age_error)
        add_row(form, "&Gender:", self.gender, self.gender_error)
        add_row(form, "&Status:", self.status, self.status_error)
        add_row(form, "&Notes:", self.notes)
        follow(self.name.textChanged, validate_name, self.name.text, self.name_error)
        follow(self.age.textChanged, validate_age, self.age.text, self.age_error, as_typed=True)
        follow(self.gender.currentTextChanged, validate_gender, self.gender.currentText,
               self.gender_error)
        follow(self.status.currentTextChanged, validate_status, self.status.currentText,
               self.status_error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.create_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.create_button.setText("Create case")
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if reason:
            hint = QLabel(reason, self)
            hint.setWordWrap(True)
            layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        # The boxes holding each field with its error were parented when the form was laid
        # out, which put them after the buttons in the focus chain: reading order, explicitly.
        self.tab_chain = [self.name, self.age, self.gender, self.status, self.notes,
                          self.create_button, self.cancel_button]
        for first, second in zip(self.tab_chain, self.tab_chain[1:], strict=False):
            QWidget.setTabOrder(first, second)
        self.name.setFocus(Qt.FocusReason.OtherFocusReason)
        self.resize(460, 400)

    def has_typed_text(self) -> bool:
        return bool(self.name.text().strip() or self.age.text().strip()
                    or self.gender.currentText().strip() or self.notes.toPlainText().strip()
                    or self.status.currentText().strip() != DEFAULT_STATUS)

    def validate(self) -> NewCase | None:
        ok_name, name = check(validate_name, self.name.text(), self.name_error)
        ok_age, age = check(validate_age, self.age.text(), self.age_error)
        ok_gender, gender = check(validate_gender, self.gender.currentText(), self.gender_error)
        ok_status, status = check(validate_status, self.status.currentText(), self.status_error)
        if not (ok_name and ok_age and ok_gender and ok_status):
            for field, ok in ((self.name, ok_name), (self.age, ok_age),
                              (self.gender, ok_gender), (self.status, ok_status)):
                if not ok:
                    field.setFocus(Qt.FocusReason.OtherFocusReason)  # to the first problem
                    break
            return None
        return NewCase(name, age, gender, validate_summary(self.notes.toPlainText()), status)

    def accept(self) -> None:
        value = self.validate()
        if value is None:
            return  # errors are shown under the fields; the dialog stays open
        self.value = value
        super().accept()
