"""The main window: case list beside the open case, toolbar, status bar, drops.

The window owns the Workspace handle and an OperationRunner; every read or write of the cache
that could take more than a few milliseconds is an operation, and its result updates only the
views that show it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from desktop.errors import CaseDeskError
from desktop.ui.attach_results import AttachResultsDialog, summary
from desktop.ui.case_list_model import CaseListModel
from desktop.ui.case_table import CaseTable
from desktop.ui.case_view import CaseView
from desktop.ui.drop import DropController, DropTarget
from desktop.ui.icons import app_icon
from desktop.ui.new_case_dialog import NewCase, NewCaseDialog
from desktop.ui.operations import OperationRunner, user_message
from desktop.ui.preview import PreviewWidget
from desktop.ui.settings import app_settings
from desktop.ui.sync_panel import SyncPanel
from desktop.workspace import (
    KNOWN_STATUSES,
    AttachProgress,
    AttachResult,
    CaseRecord,
    DocumentRecord,
    Workspace,
)

log = logging.getLogger(__name__)

SEARCH_DEBOUNCE_MS = 200
PROGRESS_DELAY_MS = 600  # quick batches finish without flashing a progress bar

# Status filter entries: label → (status, include_archived)
STATUS_FILTERS: list[tuple[str, str | None, bool]] = [
    ("All active", None, False),
    *[(s.capitalize(), s, False) for s in KNOWN_STATUSES if s != "archived"],
    ("Archived", "archived", True),
    ("All, including archived", None, True),
]

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace, runner: OperationRunner | None = None) -> None:
        super().__init__()
        self.ws = workspace
        self.runner = runner or OperationRunner(self)
        self.setWindowTitle("Case Desk[*]")
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")
        self._restoring_selection = False
        self._after_save: Callable[[], None] | None = None
        self._after_save_failed: Callable[[], None] | None = None
        self._select_after_refresh: str | None = None
        self._close_confirmed = False
        self._cancel_intake = threading.Event()
        self._intake_running = 0
        self.result_dialogs: list[AttachResultsDialog] = []
        self.batches_done = 0  # intake batches finished (tests and the future sync wait on it)
        self._docs_generation = 0

        self.model = CaseListModel(workspace, self.runner, self)
        self._build_list()
        self.preview = PreviewWidget(self.runner)
        self.case_view = CaseView(self.preview)
        self.case_view.setAccessibleName("Open case")
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.list_panel)
        self.splitter.addWidget(self.case_view)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([640, 720])
        self.setCentralWidget(self.splitter)
        self._build_actions()
        self._build_status_bar()
        self.drops = DropController(
            self, self.table, self.case_view, self.splitter,
            open_case=self._open_case_label, row_label=self._row_label,
        )
        self.drops.dropped.connect(self.handle_drop)

        self.case_view.save_requested.connect(self._save)
        self.case_view.archive_requested.connect(self.archive_case)
        self.case_view.dirty_changed.connect(self._dirty_changed)
        self.case_view.documents.add_files_requested.connect(self.add_files)
        self.case_view.documents.document_selected.connect(self._document_selected)
        self.case_view.documents.model.category_change_requested.connect(self._set_category)
        self.model.count_changed.connect(self._count_changed)
        self.model.first_page.connect(
            lambda n: self.count_label.setText(f"at least {n:,} cases…"))
        self.model.loading_changed.connect(self._loading_changed)
        self.model.refreshed.connect(self._after_refresh)
        # Rows leaving the list (an archived case) must not open the neighbouring case.
        self.model.removing.connect(self._hold_selection)
        self.model.failed.connect(lambda msg: self.statusBar().showMessage(msg, 8000))

        self._set_tab_order()
        self.resize(1280, 800)
        self._restore_settings()
        self._update_actions()
        self.model.refresh(reset=True)
        self.refresh_sync_status()
        self.sync_panel = SyncPanel(self)

    # ------------------------------------------------------------ building

    def _build_list(self) -> None:
        self.list_panel = QWidget(self)
        self.search = QLineEdit(self.list_panel)
        self.search.setPlaceholderText("Search names and notes (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search cases")
        self.status_filter = QComboBox(self.list_panel)
        self.status_filter.setAccessibleName("Status filter")
        for label, status, archived in STATUS_FILTERS:
            self.status_filter.addItem(label, (status, archived))
        self.status_filter.currentIndexChanged.connect(self._status_filter_changed)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self.model.set_search(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._debounce.start())

        self.table = CaseTable(self.list_panel)
        self.table.setObjectName("caseTable")
        self.table.setAccessibleName("Cases")
        self.table.setModel(self.model)
        self.table.apply_list_look()
        self.table.setSortingEnabled(True)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)

        self.count_label = QLabel(self.list_panel)
        self.count_label.setAccessibleName("Number of cases shown")
        top = QHBoxLayout()
        top.addWidget(self.search, 3)
        top.addWidget(self.status_filter, 1)
        layout = QVBoxLayout(self.list_panel)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

    def _build_actions(self) -> None:
        style = self.style()
        self.toolbar = self.addToolBar("Main")
        self.toolbar.setObjectName("mainToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)

        def action(text: str, icon: QStyle.StandardPixmap | None, keys: QKeySequence | str | None,
                   slot: Callable[[], Any], tip: str) -> QAction:
            act = QAction(text, self)
            if icon is not None:
                act.setIcon(style.standardIcon(icon))
            if keys is not None:
                act.setShortcut(QKeySequence(keys))
            act.setToolTip(tip)
            act.triggered.connect(lambda _checked=False: slot())
            self.addAction(act)
            return act

        self.new_action = action("New case", QStyle.StandardPixmap.SP_FileDialogNewFolder,
                                 QKeySequence.StandardKey.New, self.new_case, "New case (Ctrl+N)")
        self.save_action = action("Save", QStyle.StandardPixmap.SP_DialogSaveButton,
                                  QKeySequence.StandardKey.Save, self.save, "Save on this computer (Ctrl+S)")
        self.attach_action = action("Add files…", QStyle.StandardPixmap.SP_DirOpenIcon,
                                    QKeySequence.StandardKey.Open, self.add_files,
                                    "Attach files to the open case (Ctrl+O)")
        self.archive_action = action("Archive", QStyle.StandardPixmap.SP_TrashIcon, None,
                                     lambda: self.archive_case(self.case_view.case_id or ""),
                                     "Archive the open case")
        self.find_action = action("Find", None, QKeySequence.StandardKey.Find, self.focus_search,
                                  "Search cases (Ctrl+F)")
        self.sync_action = action("Sync", QStyle.StandardPixmap.SP_BrowserReload, "F5",
                                  self.sync_now, "Sync now (F5)")
        for act in (self.new_action, self.save_action, self.attach_action, self.archive_action):
            self.toolbar.addAction(act)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.sync_action)
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.toolbar.addWidget(spacer)
        # The sync controller (later) drives these two: connection state and pending work.
        self.online_label = QLabel("Offline — working locally", self)
        self.online_label.setAccessibleName("Connection state")
        self.online_label.setStyleSheet("color: #616161; padding: 0 8px;")
        self.pending_label = QLabel(self)
        self.pending_label.setAccessibleName("Changes waiting to sync")
        self.pending_label.setStyleSheet("padding: 0 8px;")
        self.toolbar.addWidget(self.online_label)
        self.toolbar.addWidget(self.pending_label)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(220)
        self.progress.setAccessibleName("Attach progress")
        self.progress_label = QLabel(self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel attaching")
        self.cancel_button.clicked.connect(self.cancel_intake)
        for w in (self.progress_label, self.progress, self.cancel_button):
            bar.addWidget(w)
            w.hide()
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_DELAY_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        # Seam for the sync controller: last sync / errors go here.
        self.sync_status_label = QLabel("Not signed in", self)
        self.sync_status_label.setAccessibleName("Sync status")
        bar.addPermanentWidget(self.sync_status_label)

    def _set_tab_order(self) -> None:
        form = self.case_view.form
        chain = [self.search, self.status_filter, self.table, form.name, form.age, form.status,
                 form.notes, self.case_view.save_button, self.case_view.revert_button,
                 self.case_view.archive_button]
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)

    # ------------------------------------------------------------ settings

    def _restore_settings(self) -> None:
        settings = app_settings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = settings.value("window/splitter")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.splitter.restoreState(state)
        header = settings.value("window/caseListHeader")
        if isinstance(header, QByteArray) and not header.isEmpty():
            self.table.horizontalHeader().restoreState(header)  # widths and sort (re-queried)
        docs = settings.value("window/documentsSplitter")
        if isinstance(docs, QByteArray) and not docs.isEmpty():
            self.case_view.documents.splitter.restoreState(docs)

    def save_settings(self) -> None:
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/splitter", self.splitter.saveState())
        settings.setValue("window/documentsSplitter", self.case_view.documents.splitter.saveState())
        settings.setValue("window/caseListHeader", self.table.horizontalHeader().saveState())
        settings.sync()

    # ------------------------------------------------------------ list

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _status_filter_changed(self, index: int) -> None:
        status, archived = self.status_filter.itemData(index)
        self.model.set_status_filter(status, archived)

    def _count_changed(self, count: int) -> None:
        self.count_label.setText(f"{count:,} case{'s' if count != 1 else ''}")

    def _loading_changed(self, loading: bool) -> None:
        if loading and not self.model.ids:
            self.count_label.setText("Loading…")

    def _after_refresh(self) -> None:
        """Keep the open case selected across refreshes, or select a just-created case."""
        wanted = self._select_after_refresh or self.case_view.case_id
        self._select_after_refresh = None
        if wanted is None:
            return
        row = self.model.row_of(wanted)
        current = self.table.currentIndex()
        if row is None:
            if current.isValid():
                self._set_current_row(-1)
            return
        if not current.isValid() or current.row() != row:
            if self.case_view.case_id != wanted:
                self._set_current_row(row, notify=True)
            else:
                self._set_current_row(row)
        self.table.scrollTo(self.model.index(row, 0))

    def _hold_selection(self, hold: bool) -> None:
        self._restoring_selection = hold

    def _set_current_row(self, row: int, notify: bool = False) -> None:
        """Move the list's selection; notify=False keeps the open case untouched."""
        self._restoring_selection = not notify
        try:
            sm = self.table.selectionModel()
            if row < 0:
                sm.clearCurrentIndex()
                sm.clearSelection()
            else:
                sm.setCurrentIndex(
                    self.model.index(row, 0),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect
                    | QItemSelectionModel.SelectionFlag.Rows,
                )
        finally:
            self._restoring_selection = False

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._restoring_selection:
            return
        case_id = self.model.case_id(current.row()) if current.isValid() else None
        if case_id is None or case_id == self.case_view.case_id:
            return
        self.guard_unsaved(
            proceed=lambda: self.open_case(case_id),
            abandon=self._reselect_open_case,
        )

    def _reselect_open_case(self) -> None:
        opened = self.case_view.case_id
        row = self.model.row_of(opened) if opened else None
        self._set_current_row(-1 if row is None else row)

    def _row_label(self, row: int) -> tuple[str, str] | None:
        record = self.model.record(row)
        return (record.id, record.patient_name) if record else None

    def _open_case_label(self) -> tuple[str, str] | None:
        record = self.case_view.record
        return (record.id, record.patient_name) if record else None

    # ------------------------------------------------------------ the open case

    def open_case(self, case_id: str) -> None:
        row = self.model.row_of(case_id)
        record = self.model.record(row) if row is not None else None
        if record is None:
            self.runner.run(lambda: self.ws.get_case(case_id), success=self._show_case,
                            failure=self._report, lane="read")
        else:
            self._show_case(record)

    def _show_case(self, record: CaseRecord) -> None:
        self.case_view.show_case(record)
        self._update_actions()
        self.load_documents(record.id)
        self.sync_panel.case_opened(record.id, record.server_id)

    def load_documents(self, case_id: str, select: str | None = None) -> None:
        self._docs_generation += 1
        generation = self._docs_generation

        def done(docs: list[DocumentRecord]) -> None:
            if generation != self._docs_generation or self.case_view.case_id != case_id:
                return
            self.case_view.documents.model.set_documents(docs)
            if select:
                self.case_view.documents.select_document(select)

        self.runner.run(lambda: self.ws.documents(case_id), success=done,
                        failure=self._report, lane="read")

    def _dirty_changed(self, dirty: bool) -> None:
        self.setWindowModified(dirty)
        self._update_actions()

    def _update_actions(self) -> None:
        has_case = self.case_view.record is not None
        self.save_action.setEnabled(has_case and self.case_view.dirty)
        self.archive_action.setEnabled(
            has_case and self.case_view.record is not None
            and self.case_view.record.status != "archived"
        )

    def save(self) -> None:
        self.case_view.request_save()

    def _save(self, case_id: str, changes: dict[str, Any]) -> None:
        self.runner.run(
            lambda: self.ws.edit_case(case_id, **changes),
            success=self._saved,
            failure=self._save_failed,
            lane="write",
        )

    def _saved(self, record: CaseRecord) -> None:
        self.case_view.saved(record)
        self.model.update_record(record)
        self.model.refresh()
        self.statusBar().showMessage("Saved on this computer; it will sync when online.", 5000)
        self._local_change()
        self._update_actions()
        after, self._after_save, self._after_save_failed = self._after_save, None, None
        if after is not None:
            after()

    def _save_failed(self, error: BaseException) -> None:
        self.case_view.save_failed(user_message(error))
        after, self._after_save, self._after_save_failed = self._after_save_failed, None, None
        if after is not None:
            after()

    def ask_unsaved(self) -> str:
        """Save / Discard / Cancel for unsaved edits (tests replace this)."""
        name = self.case_view.record.patient_name if self.case_view.record else "this case"
        box = QMessageBox(
            QMessageBox.Icon.Question, "Unsaved changes",
            f"The changes to {name} are not saved.", parent=self,
        )
        box.setInformativeText("Save them on this computer before you go on?")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return SAVE
        if answer == QMessageBox.StandardButton.Discard:
            return DISCARD
        return CANCEL

    def guard_unsaved(self, proceed: Callable[[], None], abandon: Callable[[], None]) -> None:
        """Run ``proceed`` once unsaved edits are saved or discarded; ``abandon`` if cancelled."""
        if not self.case_view.dirty:
            proceed()
            return
        choice = self.ask_unsaved()
        if choice == DISCARD:
            self.case_view.discard()
            proceed()
        elif choice == SAVE:
            self._after_save, self._after_save_failed = proceed, abandon
            if not self.case_view.request_save():
                # Invalid input (errors shown under the fields) or nothing to send.
                self._after_save, self._after_save_failed = None, None
                if self.case_view.dirty:
                    abandon()
                else:
                    proceed()
        else:
            abandon()

    def archive_case(self, case_id: str) -> None:
        if not case_id:
            return

        def archive() -> None:
            self.runner.run(lambda: self.ws.archive_case(case_id), success=self._archived,
                            failure=self._report, lane="write")

        self.guard_unsaved(proceed=archive, abandon=lambda: None)

    def _archived(self, record: CaseRecord) -> None:
        if self.case_view.case_id == record.id:
            self.case_view.show_case(record)
        self.model.update_record(record)
        self.model.refresh()
        self._local_change()
        self._update_actions()
        self.statusBar().showMessage(
            "Archived. Archived cases are hidden; choose “Archived” in the filter to see them.", 8000
        )

    # ------------------------------------------------------------ new case

    def ask_new_case(self, reason: str | None = None) -> NewCase | None:
        """Show the New case dialog (tests replace this)."""
        dialog = NewCaseDialog(self, reason)
        try:
            if dialog.exec() == NewCaseDialog.DialogCode.Accepted:
                return dialog.value
            return None
        finally:
            dialog.deleteLater()

    def new_case(self, then: Callable[[CaseRecord], None] | None = None,
                 reason: str | None = None) -> None:
        def create() -> None:
            value = self.ask_new_case(reason)
            if value is None:
                return
            self.runner.run(
                lambda: self.ws.create_case(
                    value.patient_name, value.patient_age, value.patient_gender,
                    value.case_summary, value.status,
                ),
                success=lambda record: self._created(record, then),
                failure=self._report,
                lane="write",
            )

        self.guard_unsaved(proceed=create, abandon=lambda: None)

    def _created(self, record: CaseRecord, then: Callable[[CaseRecord], None] | None) -> None:
        self.statusBar().showMessage(f"Created {record.patient_name}; it will sync when online.", 5000)
        self._show_case(record)
        self._select_after_refresh = record.id
        self.model.refresh()
        self._local_change()
        if then is not None:
            then(record)

    # ------------------------------------------------------------ attaching files

    def ask_files(self) -> list[Path]:
        """The file chooser (tests replace this)."""
        names, _filter = QFileDialog.getOpenFileNames(
            self, "Add files",
            filter="Documents (*.pdf *.png *.jpg *.jpeg *.dcm *.tif *.tiff *.webp *.doc *.docx "
                   "*.txt *.csv);;All files (*)",
        )
        return [Path(n) for n in names]

    def add_files(self) -> None:
        paths = self.ask_files()
        if not paths:
            return
        opened = self._open_case_label()
        target = DropTarget("open", opened[0]) if opened else DropTarget("new")
        self.handle_drop(paths, target)

    def handle_drop(self, paths: list[Path], target: DropTarget) -> None:
        if not paths:
            return
        if target.kind == "new" or target.case_id is None:
            n = len(paths)
            self.new_case(
                then=lambda record: self.attach(record.id, paths, record.patient_name),
                reason=f"No case is open. Create one for the {n} dropped item{'s' if n != 1 else ''}.",
            )
            return
        name = target.label.removeprefix("Attach to ").removeprefix("Drop to attach to ")
        self.attach(target.case_id, paths, name or "the case")

    def attach(self, case_id: str, paths: Sequence[Path], case_name: str) -> None:
        """Take files in off the GUI thread; per-file progress; one verdict list at the end."""
        paths = list(paths)
        cancel = self._cancel_intake
        if self._intake_running == 0:
            cancel.clear()
        self._intake_running += 1
        ws = self.ws

        def work(report: Callable[[Any], None]) -> tuple[list[AttachResult], bool]:
            def progress(state: AttachProgress) -> None:
                last = state.results[-1] if state.results else None
                report((state.done, state.total, last.path.name if last else ""))

            results = ws.attach(case_id, paths, progress=progress, cancelled=cancel.is_set)
            return results, cancel.is_set()

        self.progress.setRange(0, 0)
        self.progress_label.setText(f"Adding files to {case_name}…")
        self._progress_timer.start()
        self.runner.run_with_progress(
            work,
            progress=self._intake_progress,
            success=lambda outcome: self._attached(case_id, case_name, *outcome),
            failure=lambda exc: self._intake_failed(exc),
            lane="intake",
        )

    def _show_progress(self) -> None:
        if self._intake_running:
            for w in (self.progress_label, self.progress, self.cancel_button):
                w.show()

    def _intake_progress(self, payload: tuple[int, int, str]) -> None:
        done, total, name = payload
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress_label.setText(f"Added {done} of {total}" + (f": {name}" if name else ""))

    def _intake_finished(self) -> None:
        self._intake_running -= 1
        if self._intake_running == 0:
            self._progress_timer.stop()
            for w in (self.progress_label, self.progress, self.cancel_button):
                w.hide()

    def cancel_intake(self) -> None:
        self._cancel_intake.set()
        self.progress_label.setText("Stopping after the current file…")

    def _attached(self, case_id: str, case_name: str, results: list[AttachResult],
                  cancelled: bool) -> None:
        self._intake_finished()
        self.batches_done += 1
        self.statusBar().showMessage(f"{case_name}: {summary(results, cancelled)}", 8000)
        dialog = AttachResultsDialog(results, case_name, cancelled, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda _=None, d=dialog: self._forget_dialog(d))
        self.result_dialogs.append(dialog)
        dialog.show()
        if self.case_view.case_id == case_id:
            first = next((r.document.id for r in results if r.document and r.outcome == "attached"), None)
            self.load_documents(case_id, select=first)
            if first is not None:
                self.case_view.tabs.setCurrentWidget(self.case_view.documents)
        self.model.refresh()
        self._local_change()

    def _forget_dialog(self, dialog: AttachResultsDialog) -> None:
        if dialog in self.result_dialogs:
            self.result_dialogs.remove(dialog)

    def _intake_failed(self, error: BaseException) -> None:
        self._intake_finished()
        self.batches_done += 1
        self._report(error)

    # ------------------------------------------------------------ documents

    def _document_selected(self, doc: DocumentRecord | None) -> None:
        if doc is None:
            self.preview.clear()
            return
        # Where the bytes are is known from the hash alone: no disk access on the GUI thread
        # (the preview worker reports a missing file in words).
        path = self.ws.blobs.path_for(doc.sha256) if doc.sha256 else None
        self.preview.show_document(doc.name, doc.mime_type, path)
        if path is None and doc.state == "remote_only":
            self.sync_panel.download(doc)  # on demand; the preview follows when it lands

    def _set_category(self, document_id: str, category: str) -> None:
        self.runner.run(
            lambda: self.ws.set_document_category(document_id, category),
            success=self.case_view.documents.model.update_document,
            failure=self._report,
            lane="write",
        )

    # ------------------------------------------------------------ sync seams

    def sync_now(self) -> None:
        self.sync_panel.sync_now()

    def _local_change(self) -> None:
        """A save, new case, archive or attach landed in the cache: count it, push it soon."""
        self.refresh_sync_status()
        self.sync_panel.local_change()

    def refresh_after_sync(self) -> None:
        """After a pull or push: re-read the list (rows move, no reset), the open case's
        documents and the pending count. Unsaved edits in the form are left alone."""
        self.model.refresh()
        self.refresh_sync_status()
        self.refresh_open_case()

    def refresh_open_case(self) -> None:
        """Re-read the open case (insights, fields) and its documents, keeping unsaved edits."""
        case_id = self.case_view.case_id
        if case_id is not None:
            self.load_documents(case_id)
            if not self.case_view.dirty:
                self.runner.run(lambda: self.ws.get_case(case_id), success=self._reload_open_case,
                                failure=self._report, lane="read")

    def _reload_open_case(self, record: CaseRecord) -> None:
        if self.case_view.case_id == record.id and not self.case_view.dirty:
            self.case_view.show_case(record)
            self._update_actions()

    def refresh_sync_status(self) -> None:
        def counts() -> tuple[int, int]:
            return self.ws.pending_count(), self.ws.open_conflict_count()

        self.runner.run(counts, success=self._show_counts, failure=self._report, lane="read")

    def _show_counts(self, counts: tuple[int, int]) -> None:
        pending, conflicts = counts
        parts = []
        if pending:
            parts.append(f"{pending} change{'s' if pending != 1 else ''} waiting to sync")
        if conflicts:
            parts.append(f"{conflicts} conflict{'s' if conflicts != 1 else ''}")
        self.pending_label.setText(" · ".join(parts) if parts else "All changes synced")
        self.pending_label.setStyleSheet(
            "padding: 0 8px; color: %s;" % ("#c62828" if conflicts else "#424242")
        )

    # ------------------------------------------------------------ errors and closing

    def _report(self, error: BaseException) -> None:
        message = user_message(error)
        self.statusBar().showMessage(message, 10000)
        if not isinstance(error, CaseDeskError):
            QMessageBox.warning(self, "Case Desk", message)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if not self._close_confirmed and self.case_view.dirty:
            event.ignore()

            def close_now() -> None:
                self._close_confirmed = True
                self.close()

            self.guard_unsaved(proceed=close_now, abandon=lambda: None)
            return
        self.save_settings()
        self.sync_panel.shutdown()
        self._cancel_intake.set()
        for dialog in list(self.result_dialogs):
            dialog.close()
        self.runner.wait()
        event.accept()
