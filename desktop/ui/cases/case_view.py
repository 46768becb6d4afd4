"""The open case: the editable form, its documents and its AI insights, in tabs."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.cases.fields import (
    AgeField,
    FieldError,
    add_row,
    check,
    follow,
    set_status,
    status_combo,
)
from desktop.ui.cases.history_view import HistoryView
from desktop.ui.cases.insights_view import InsightsView
from desktop.ui.documents.documents_view import DocumentsPanel
from desktop.ui.documents.preview import PreviewWidget
from desktop.ui.icons import SYNC_LABELS
from desktop.ui.wording import ANALYSIS_TEXT
from desktop.workspace import (
    ARCHIVED,
    KNOWN_GENDERS,
    CaseRecord,
    validate_age,
    validate_name,
    validate_status,
    validate_summary,
)

DIRTY_MARK = "•"


class CaseForm(QWidget):
    """Name, age, gender (fixed after creation), status and notes, with inline errors."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = QLineEdit(self)
        self.name.setAccessibleName("Patient name")
        self.age = AgeField(self)
        self.gender = QComboBox(self)
        self.gender.addItems(list(KNOWN_GENDERS))
        self.gender.setEnabled(False)
        self.gender.setAccessibleName("Gender")
        self.gender.setToolTip("Gender is set when a case is created and cannot change afterwards.")
        self.status = status_combo(self)
        self.notes = QPlainTextEdit(self)
        self.notes.setAccessibleName("Notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setPlaceholderText("Doctor's notes")
        self.name_error, self.age_error = FieldError(self), FieldError(self)
        self.status_error = FieldError(self)

        form = QFormLayout(self)
        add_row(form, "&Patient name:", self.name, self.name_error)
        add_row(form, "&Age:", self.age, self.age_error)
        add_row(form, "Gender:", self.gender)
        add_row(form, "S&tatus:", self.status, self.status_error)
        add_row(form, "&Notes:", self.notes)

        self.name.textChanged.connect(self.changed)
        self.age.textChanged.connect(self.changed)
        self.status.currentTextChanged.connect(self.changed)
        self.notes.textChanged.connect(self.changed)
        follow(self.name.textChanged, validate_name, self.name.text, self.name_error)
        follow(self.age.textChanged, validate_age, self.age.text, self.age_error, as_typed=True)
        follow(self.status.currentTextChanged, validate_status, self.status.currentText,
               self.status_error)
        self.setTabOrder(self.name, self.age)
        self.setTabOrder(self.age, self.status)
        self.setTabOrder(self.status, self.notes)

    def load(self, record: CaseRecord) -> None:
        widgets = (self.name, self.age, self.status, self.notes, self.gender)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.name.setText(record.patient_name)
            self.age.setText(str(record.patient_age))
            if self.gender.findText(record.patient_gender) < 0:
                self.gender.addItem(record.patient_gender)
            self.gender.setCurrentText(record.patient_gender)
            set_status(self.status, record.status)
            self.notes.setPlainText(record.case_summary or "")
        finally:
            for w in widgets:
                w.blockSignals(False)
        for error in (self.name_error, self.age_error, self.status_error):
            error.show_error(None)

    def values(self) -> dict[str, Any]:
        return {
            "patient_name": self.name.text(),
            "patient_age": self.age.text(),
            "status": self.status.currentText(),
            "case_summary": self.notes.toPlainText(),
        }

    def validated(self) -> dict[str, Any] | None:
        """Clean values, or None with the errors shown under their fields."""
        ok_name, name = check(validate_name, self.name.text(), self.name_error)
        ok_age, age = check(validate_age, self.age.text(), self.age_error)
        ok_status, status = check(validate_status, self.status.currentText(), self.status_error)
        if not (ok_name and ok_age and ok_status):
            return None
        return {
            "patient_name": name,
            "patient_age": age,
            "status": status,
            "case_summary": validate_summary(self.notes.toPlainText()),
        }


class CaseView(QWidget):
    """Shows one case; emits requests, the window runs them as operations."""

    save_requested = Signal(str, dict)  # case id, changed fields (validated)
    archive_requested = Signal(str)
    unarchive_requested = Signal(str)
    dirty_changed = Signal(bool)

    def __init__(self, preview: PreviewWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.record: CaseRecord | None = None
        self._dirty = False
        self._saving = False

        self.stack = QStackedWidget(self)
        self.empty = QLabel(
            "Select a case on the left, or press Ctrl+N for a new one.\n"
            "Drop files anywhere on the window to attach them.",
            self,
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #616161; font-size: 11pt;")
        self.stack.addWidget(self.empty)

        page = QWidget(self)
        self.title = QLabel(page)
        self.title.setStyleSheet("font-size: 15pt; font-weight: 600;")
        self.title.setAccessibleName("Case title")
        self.sync_label = QLabel(page)
        self.sync_label.setStyleSheet("color: #616161;")
        self.sync_label.setWordWrap(True)
        self.form = CaseForm(page)
        self.form.changed.connect(self._on_changed)
        self.general_error = FieldError(page)
        self.save_button = QPushButton("Save", page)
        self.save_button.setAccessibleName("Save case")
        self.save_button.setToolTip("Save changes on this computer (Ctrl+S); they sync later")
        self.save_button.clicked.connect(self.request_save)
        self.revert_button = QPushButton("Discard changes", page)
        self.revert_button.setAccessibleName("Discard changes")
        self.revert_button.clicked.connect(self.discard)
        self.archive_button = QPushButton("Archive…", page)
        self.archive_button.setAccessibleName("Archive case")
        self.archive_button.setToolTip("Set the status to archived; archived cases are hidden")
        self.archive_button.clicked.connect(self._archive)
        self.dirty_label = QLabel(page)
        self.dirty_label.setStyleSheet("color: #e65100;")

        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.dirty_label)
        buttons.addStretch(1)
        buttons.addWidget(self.archive_button)
        details = QWidget(page)
        self.details = details
        details_layout = QVBoxLayout(details)
        details_layout.addWidget(self.form)
        details_layout.addWidget(self.general_error)
        details_layout.addLayout(buttons)
        details_layout.addStretch(1)

        self.preview = preview
        self.documents = DocumentsPanel(preview, page)
        self.insights = InsightsView(page)
        self.history = HistoryView(page)
        self.tabs = QTabWidget(page)
        self.tabs.setAccessibleName("Case sections")
        self.tabs.tabBar().setAccessibleName("Case sections")
        self.tabs.addTab(details, "&Details")
        self.tabs.addTab(self.documents, "D&ocuments")
        self.tabs.addTab(self.insights, "AI &insights")
        self.tabs.addTab(self.history, "Histor&y")

        page_layout = QVBoxLayout(page)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        page_layout.addLayout(header)
        page_layout.addWidget(self.sync_label)
        page_layout.addWidget(self.tabs, 1)
        self.stack.addWidget(page)
        self.page = page

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self._update_buttons()

    # ------------------------------------------------------------ state

    @property
    def case_id(self) -> str | None:
        return self.record.id if self.record else None

    @property
    def dirty(self) -> bool:
        return self._dirty

    def show_case(self, record: CaseRecord | None) -> None:
        """Load a case (discarding unsaved edits: the window guards before calling this)."""
        same = self.record is not None and record is not None and self.record.id == record.id
        self.record = record
        if record is None:
            self.stack.setCurrentWidget(self.empty)
            self.documents.model.set_documents([])
            self.insights.set_insights(None)
            self._set_dirty(False)
            return
        self.stack.setCurrentWidget(self.page)
        self.form.load(record)
        self.general_error.show_error(None)
        self.insights.set_insights(record.ai_insights)
        if not same:
            self.documents.model.set_documents([])
            self.preview.clear()
        self._set_dirty(False)
        self._update_header()

    def _update_header(self) -> None:
        record = self.record
        if record is None:
            return
        mark = f" {DIRTY_MARK}" if self._dirty else ""
        self.title.setText(f"{record.patient_name}{mark}")
        sync = SYNC_LABELS.get(record.sync_state, record.sync_state)
        where = "not yet on the server" if record.server_id is None else "on the server"
        detail = f": {record.sync_error}" if record.sync_error else ""
        updated = record.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
        files = ""
        if record.server_id is not None:
            checked = record.files_checked_at
            files = (" · files checked " + checked.astimezone().strftime("%Y-%m-%d %H:%M")
                     if checked else " · files not checked with the server yet")
        analysis = (" · " + ANALYSIS_TEXT.get(record.analysis, record.analysis)
                    if record.analysis else "")
        self.sync_label.setText(f"{sync}{detail} · {where} · updated {updated}{files}{analysis}")

    def _on_changed(self) -> None:
        if self.record is None:
            return
        self._set_dirty(self.changes() != {})

    def changes(self) -> dict[str, Any]:
        """Fields whose text differs from the saved case (before validation)."""
        record = self.record
        if record is None:
            return {}
        values = self.form.values()
        saved = {
            "patient_name": record.patient_name,
            "patient_age": str(record.patient_age),
            "status": record.status,
            "case_summary": record.case_summary or "",
        }
        return {k: v for k, v in values.items() if v != saved[k]}

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)
        self.dirty_label.setText(f"{DIRTY_MARK} Unsaved changes" if dirty else "")
        self._update_header()
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_case = self.record is not None
        self.save_button.setEnabled(has_case and self._dirty and not self._saving)
        self.revert_button.setEnabled(has_case and self._dirty and not self._saving)
        archived = self.record is not None and self.record.status == ARCHIVED
        self.archive_button.setEnabled(has_case and not self._saving)
        self.archive_button.setText("Unarchive" if archived else "Archive…")
        self.archive_button.setAccessibleName("Unarchive case" if archived else "Archive case")
        self.archive_button.setToolTip(
            "Put the case back in the status it had before it was archived" if archived
            else "Set the status to archived (it asks first); archived cases are hidden")

    # ------------------------------------------------------------ actions

    def request_save(self) -> bool:
        """Validate and ask the window to save; False if nothing was sent (invalid or clean)."""
        if self.record is None or self._saving:
            return False
        clean = self.form.validated()
        if clean is None:
            return False
        changed = self.changes()
        payload = {k: clean[k] for k in changed}
        if not payload:
            self._set_dirty(False)
            return False
        self.general_error.show_error(None)
        self.set_saving(True)
        self.save_requested.emit(self.record.id, payload)
        return True

    def set_saving(self, saving: bool) -> None:
        self._saving = saving
        self.save_button.setText("Saving…" if saving else "Save")
        self._update_buttons()

    def saved(self, record: CaseRecord) -> None:
        """The write committed: the form now shows (and compares against) the saved case."""
        self.set_saving(False)
        if self.record is not None and record.id == self.record.id:
            self.show_case(record)

    def save_failed(self, message: str) -> None:
        self.set_saving(False)
        self.general_error.show_error(message)

    def discard(self) -> None:
        if self.record is not None:
            self.show_case(self.record)

    def _archive(self) -> None:
        if self.record is None:
            return
        if self.record.status == ARCHIVED:
            self.unarchive_requested.emit(self.record.id)
        else:
            self.archive_requested.emit(self.record.id)
