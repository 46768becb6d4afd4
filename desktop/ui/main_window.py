"""The main window: the shell that places the features and runs the open case's actions.

It composes the case list (``cases/``), the open case with its documents (``cases/`` and
``documents/``), attaching files (``documents/attach.py``) and sync (``sync/``), puts their
actions in the toolbar and their indicators in the status bar, and owns the one thing they
share: which case is open, and whether it has unsaved edits. Every write runs as an operation
that says what it changed; the views listen on the runner's ``changed`` and refresh
themselves, so nothing here calls another view's refresh by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QStyle,
    QWidget,
)

from desktop.errors import CaseDeskError
from desktop.ui.cases.case_list import CaseListPanel
from desktop.ui.cases.case_view import CaseView
from desktop.ui.cases.new_case_dialog import NewCase, NewCaseDialog
from desktop.ui.changes import Changes
from desktop.ui.documents.attach import AttachController
from desktop.ui.documents.case_documents import CaseDocuments
from desktop.ui.documents.drop import DropController, DropTarget
from desktop.ui.documents.preview import PreviewWidget
from desktop.ui.icons import app_icon
from desktop.ui.operations import OperationRunner, user_message
from desktop.ui.settings import app_settings
from desktop.ui.sync.sync_panel import SyncPanel
from desktop.workspace import CaseRecord, Workspace

log = logging.getLogger(__name__)

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace, runner: OperationRunner | None = None) -> None:
        super().__init__()
        self.ws = workspace
        self.runner = runner or OperationRunner(self)
        self.setWindowTitle("Case Desk[*]")
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")
        self._after_save: Callable[[], None] | None = None
        self._after_save_failed: Callable[[], None] | None = None
        self._close_confirmed = False

        # The features, each with its own widgets, wired below by signals.
        self.list_panel = CaseListPanel(workspace, self.runner, self)
        self.model, self.table = self.list_panel.model, self.list_panel.table
        self.preview = PreviewWidget(self.runner)
        self.case_view = CaseView(self.preview)
        self.case_view.setAccessibleName("Open case")
        self.sync_panel = SyncPanel(workspace, self.runner, self)
        self.documents = CaseDocuments(workspace, self.runner, self.case_view.documents,
                                       self.preview, downloader=self.sync_panel.controller)
        self.attacher = AttachController(workspace, self.runner, self)

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
            open_case=self._open_case_label, row_label=self.list_panel.row_label,
        )

        self.drops.dropped.connect(self.handle_drop)
        self.list_panel.case_chosen.connect(self._case_chosen)
        self.model.failed.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        self.case_view.save_requested.connect(self._save)
        self.case_view.archive_requested.connect(self.archive_case)
        self.case_view.dirty_changed.connect(self._dirty_changed)
        self.case_view.documents.add_files_requested.connect(self.add_files)
        self.attacher.attached.connect(self._attached)
        self.attacher.failed.connect(self._report)
        self.attacher.message.connect(self.statusBar().showMessage)
        self.sync_panel.message.connect(self._status_message)
        self.runner.changed.connect(self._changed)

        self._set_tab_order()
        self.resize(1280, 800)
        self._restore_settings()
        self._update_actions()
        self.model.refresh(reset=True)
        # Opening checked the outbox's pages; the rest of the file is checked in the
        # background, so a damaged cache is said before more work goes into it.
        self.runner.run(self.ws.check_pages, success=self._pages_checked, failure=self._report,
                        lane="read")

    # ------------------------------------------------------------ building

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
        self.find_action = action("Find", None, QKeySequence.StandardKey.Find,
                                  self.list_panel.focus_search, "Search cases (Ctrl+F)")
        for act in (self.new_action, self.save_action, self.attach_action, self.archive_action):
            self.toolbar.addAction(act)
        self.toolbar.addSeparator()
        panel = self.sync_panel
        self.addActions(panel.actions)  # their shortcuts work anywhere in the window
        self.toolbar.addActions(panel.leading_actions)
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.toolbar.addWidget(spacer)
        for widget in panel.indicators:
            self.toolbar.addWidget(widget)
        self.toolbar.addActions(panel.trailing_actions)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        for widget in self.attacher.status_widgets:
            bar.addWidget(widget)
        for widget in self.sync_panel.status_widgets:
            bar.addPermanentWidget(widget)

    def _status_message(self, text: str, msecs: int) -> None:
        self.statusBar().showMessage(text, msecs)

    def _set_tab_order(self) -> None:
        form = self.case_view.form
        panel = self.list_panel
        chain = [panel.search, panel.status_filter, panel.table, form.name, form.age,
                 form.status, form.notes, self.case_view.save_button,
                 self.case_view.revert_button, self.case_view.archive_button]
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

    # ------------------------------------------------------------ the open case

    def _case_chosen(self, case_id: str) -> None:
        self.guard_unsaved(proceed=lambda: self.open_case(case_id),
                           abandon=self.list_panel.reselect_open_case)

    def _open_case_label(self) -> tuple[str, str] | None:
        record = self.case_view.record
        return (record.id, record.patient_name) if record else None

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
        self.list_panel.open_case_id = record.id
        self._update_actions()
        self.documents.show_case(record.id)
        self.sync_panel.controller.case_opened(record.id, record.server_id)

    def _changed(self, changes: Changes, initiator: object) -> None:
        """Another operation changed the open case: show it as it is now, unless the person
        is editing it (their unsaved edits stay)."""
        case_id = self.case_view.case_id
        if initiator is self or not changes.touches_case(case_id) or self.case_view.dirty:
            return
        if changes.record is not None and changes.record.id == case_id:
            self._reload_open_case(changes.record)
            return
        assert case_id is not None
        self.runner.run(lambda: self.ws.get_case(case_id), success=self._reload_open_case,
                        failure=self._report, lane="read")

    def _reload_open_case(self, record: CaseRecord) -> None:
        if self.case_view.case_id == record.id and not self.case_view.dirty:
            self.case_view.show_case(record)
            self._update_actions()

    def _dirty_changed(self, dirty: bool) -> None:
        self.setWindowModified(dirty)
        self._update_actions()

    def _update_actions(self) -> None:
        record = self.case_view.record
        self.save_action.setEnabled(record is not None and self.case_view.dirty)
        self.archive_action.setEnabled(record is not None and record.status != "archived")

    def save(self) -> None:
        self.case_view.request_save()

    def _save(self, case_id: str, changes: dict[str, Any]) -> None:
        self.runner.run(
            lambda: self.ws.edit_case(case_id, **changes),
            success=self._saved,
            failure=self._save_failed,
            lane="write",
            changes=Changes.case_written,
            initiator=self,
        )

    def _saved(self, record: CaseRecord) -> None:
        self.case_view.saved(record)
        self.statusBar().showMessage("Saved on this computer; it will sync when online.", 5000)
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
                            failure=self._report, lane="write",
                            changes=Changes.case_written, initiator=self)

        self.guard_unsaved(proceed=archive, abandon=lambda: None)

    def _archived(self, record: CaseRecord) -> None:
        if self.case_view.case_id == record.id:
            self.case_view.show_case(record)
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
                changes=Changes.case_written,
                initiator=self,
            )

        self.guard_unsaved(proceed=create, abandon=lambda: None)

    def _created(self, record: CaseRecord, then: Callable[[CaseRecord], None] | None) -> None:
        self.statusBar().showMessage(f"Created {record.patient_name}; it will sync when online.", 5000)
        self._show_case(record)
        self.list_panel.select_when_listed(record.id)
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
                then=lambda record: self.attacher.attach(record.id, paths, record.patient_name),
                reason=f"No case is open. Create one for the {n} dropped item{'s' if n != 1 else ''}.",
            )
            return
        name = target.label.removeprefix("Attach to ").removeprefix("Drop to attach to ")
        self.attacher.attach(target.case_id, paths, name or "the case")

    def _attached(self, case_id: str, first_document: str | None) -> None:
        """Files went into a case: if it is the open one, show the first new document."""
        if self.case_view.case_id == case_id and first_document is not None:
            self.documents.select_when_loaded(first_document)
            self.case_view.tabs.setCurrentWidget(self.case_view.documents)

    # ------------------------------------------------------------ errors and closing

    def _pages_checked(self, damage: CaseDeskError | None) -> None:
        if damage is not None:
            self.statusBar().showMessage(str(damage))
            QMessageBox.warning(self, "Case Desk", user_message(damage))

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
        self.attacher.close()
        self.runner.wait()
        event.accept()
