"""The New case dialog: all fields, validated inline with the Workspace's own rules.

It opens on the patient name and tabs in reading order; no field starts with a made-up value
(the age is empty until typed), and Escape with typed text asks before throwing it away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.cases.fields import AgeField, FieldError, add_row, check, follow, status_combo
from desktop.ui.dialogs import GuardedDialog
from desktop.ui.operations import OperationRunner
from desktop.ui.wording import WARNING
from desktop.workspace import (
    KNOWN_GENDERS,
    CaseRecord,
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

    def __init__(self, parent: QWidget | None = None, reason: str | None = None,
                 find_matches: Callable[[NewCase], list[CaseRecord]] | None = None,
                 runner: OperationRunner | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New case")
        self.setModal(True)
        self.value: NewCase | None = None
        # Cases that may be this patient already (looked up off the GUI thread on Create):
        # the person opens one (``open_case_id``) or creates the new case anyway.
        self._find_matches, self._runner = find_matches, runner
        self._checked: NewCase | None = None
        self.open_case_id: str | None = None

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
        self.matches_box = QWidget(self)
        self.matches_label = QLabel(self.matches_box)
        self.matches_label.setWordWrap(True)
        self.matches_label.setStyleSheet(f"color: {WARNING}; font-weight: 600;")
        self.matches = QListWidget(self.matches_box)
        self.matches.setAccessibleName("Cases that may be this patient")
        self.open_button = QPushButton("&Open the selected case", self.matches_box)
        self.open_button.clicked.connect(self.open_selected)
        self.matches.itemDoubleClicked.connect(self._double_clicked)
        box = QVBoxLayout(self.matches_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.matches_label)
        box.addWidget(self.matches)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.open_button)
        box.addLayout(row)
        self.matches_box.hide()
        layout = QVBoxLayout(self)
        if reason:
            hint = QLabel(reason, self)
            hint.setWordWrap(True)
            layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.matches_box)
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
        if self._find_matches is None or self._runner is None or self._checked == value:
            self.value = value
            super().accept()
            return
        self.create_button.setEnabled(False)
        find = self._find_matches
        self._runner.run(lambda: find(value), success=lambda found: self.show_matches(value, found),
                         failure=lambda _e: self.show_matches(value, []), lane="read")

    def show_matches(self, value: NewCase, found: list[CaseRecord]) -> None:
        """No match: created. Matches: listed, to open one or create anyway (Create again)."""
        self.create_button.setEnabled(True)
        self._checked = value
        if not found:
            self.value = value
            super().accept()
            return
        self.matches_label.setText(
            f"{value.patient_name} ({value.patient_gender}, {value.patient_age}) may have a "
            f"case here already — {len(found)} with the same name and gender and an age "
            "within a year. Open it, or create a new case anyway.")
        self.matches.clear()
        for record in found:
            item = QListWidgetItem(
                f"{record.patient_name}, {record.patient_age}, {record.patient_gender} — "
                f"{record.status}, updated {record.updated_at.astimezone():%Y-%m-%d}")
            item.setData(Qt.ItemDataRole.UserRole, record.id)
            self.matches.addItem(item)
        self.matches.setCurrentRow(0)
        self.create_button.setText("Create &anyway")
        self.matches_box.show()
        self.open_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def _double_clicked(self, _item: QListWidgetItem) -> None:
        # A bound method, not a lambda holding the dialog: that would keep it alive.
        self.open_selected()

    def open_selected(self) -> None:
        item = self.matches.currentItem()
        if item is None:
            return
        self.open_case_id = item.data(Qt.ItemDataRole.UserRole)
        self.value = None
        super().accept()
