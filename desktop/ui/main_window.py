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
    QWidget,
)

from desktop import __version__
from desktop.errors import CaseDeskError
from desktop.ui.cases.analysis_watch import AnalysisWatcher
from desktop.ui.cases.case_actions import CaseActions
from desktop.ui.cases.case_columns import COLUMNS, HEADER_KEY, SORT_KEY, sort_setting
from desktop.ui.cases.case_list import CaseListPanel
from desktop.ui.cases.case_view import CaseView
from desktop.ui.cases.history_view import CaseHistory
from desktop.ui.cases.new_case_dialog import NewCase, NewCaseDialog
from desktop.ui.changes import Changes
from desktop.ui.documents.attach import AttachController
from desktop.ui.documents.case_documents import CaseDocuments
from desktop.ui.documents.document_actions import DocumentActions
from desktop.ui.documents.drop import DropController, DropTarget
from desktop.ui.documents.preview import PreviewWidget
from desktop.ui.icons import app_icon, toolbar_icon
from desktop.ui.lock import LOCK_KEYS, LockController
from desktop.ui.menus import (
    ADD_FILES,
    ARCHIVE,
    NEW_CASE,
    SAVE_CASE,
    build_menu_bar,
    first_size,
    new_toolbar,
    steady_status_bar,
)
from desktop.ui.operations import OperationRunner, user_message
from desktop.ui.settings import app_settings
from desktop.ui.shortcuts import ShortcutsDialog
from desktop.ui.sync.sync_panel import SyncPanel
from desktop.ui.undo import UndoLast
from desktop.ui.wording import NO_SERVER, SIGN_IN, saved_text
from desktop.workspace import ARCHIVED, CaseRecord, Workspace

log = logging.getLogger(__name__)

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"
APP_TITLE = "Case Desk"


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace, runner: OperationRunner | None = None) -> None:
        super().__init__()
        self.ws = workspace
        self.runner = runner or OperationRunner(self)
        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")
        self._after_save: Callable[[], None] | None = None
        self._after_save_failed: Callable[[], None] | None = None
        self._close_confirmed = False
        # Set by Sign out › remove this computer's copy: done once the workspace closes.
        self.remove_copy_on_close = False

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
        self.history = CaseHistory(workspace, self.runner, self.case_view.history)
        # Removals, moves, deletions (undoable until sent) and analyses.
        self.undo = UndoLast(self)
        self.document_actions = DocumentActions(
            workspace, self.runner, self.documents, self.undo, self,
            patient_name=lambda: self.case_view.record.patient_name
            if self.case_view.record else "this case")
        self.case_actions = CaseActions(workspace, self.runner, self.undo, self,
                                        open_case=lambda: self.case_view.record)
        controller = self.sync_panel.controller
        self.analyses = AnalysisWatcher(
            workspace, self.runner, parent=self,
            signed_in=lambda: controller.configured and controller.state not in (
                NO_SERVER, SIGN_IN))

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.list_panel)
        self.splitter.addWidget(self.case_view)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([640, 720])
        self.setCentralWidget(self.splitter)
        self.lock = LockController(self, workspace, self.runner)
        self._build_actions()
        self._build_status_bar()
        self.drops = DropController(
            self, self.table, self.case_view, self.splitter,
            open_case=self._open_case_label, row_label=self.list_panel.row_label,
        )

        self.drops.dropped.connect(self.handle_drop)
        self.drops.document_dropped.connect(self.document_actions.move)
        self.document_actions.message.connect(self._status_message)
        self.case_actions.message.connect(self._status_message)
        self.case_actions.deleted.connect(self._case_deleted)
        self.case_actions.analysis_requested.connect(self.analyses.watch)
        self.analyses.finished.connect(self._analysis_finished)
        self.list_panel.case_chosen.connect(self._case_chosen)
        self.model.failed.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        self.case_view.save_requested.connect(self._save)
        self.case_view.archive_requested.connect(self.archive_case)
        self.case_view.unarchive_requested.connect(self.unarchive_case)
        self.case_view.dirty_changed.connect(self._dirty_changed)
        self.case_view.documents.add_files_requested.connect(self.add_files)
        self.attacher.attached.connect(self._attached)
        self.attacher.failed.connect(self._report)
        self.attacher.message.connect(self.statusBar().showMessage)
        self.sync_panel.message.connect(self._status_message)
        self.sync_panel.remove_local_copy.connect(self._remove_local_copy)
        self.runner.changed.connect(self._changed)

        self._set_tab_order()
        self.resize(first_size(self))
        self._restore_settings()
        self._update_actions()
        self.model.refresh(reset=True)
        # Opening checked the outbox's pages; the rest of the file is checked in the
        # background, so a damaged cache is said before more work goes into it.
        self.runner.run(self.ws.check_pages, success=self._pages_checked, failure=self._report,
                        lane="read")

    # ------------------------------------------------------------ building

    def _build_actions(self) -> None:
        self.toolbar = new_toolbar(self)

        def action(text: str, icon: str | None,
                   keys: QKeySequence | QKeySequence.StandardKey | str | None,
                   slot: Callable[[], Any], tip: str) -> QAction:
            act = QAction(text, self)
            if icon is not None:
                act.setIcon(toolbar_icon(icon))
            if keys is not None:
                act.setShortcut(QKeySequence(keys))
            act.setToolTip(tip)
            act.triggered.connect(lambda _checked=False: slot())
            self.addAction(act)
            return act

        self.new_action = action(*NEW_CASE, QKeySequence.StandardKey.New, self.new_case, "New case (Ctrl+N)")
        self.save_action = action(*SAVE_CASE, QKeySequence.StandardKey.Save, self.save, "Save on this computer (Ctrl+S)")
        self.attach_action = action(*ADD_FILES, QKeySequence.StandardKey.Open, self.add_files,
                                    "Attach files to the open case (Ctrl+O)")
        self.quit_action = action("&Quit", None, "Ctrl+Q", self.close, "Close Case Desk (Ctrl+Q)")
        self.discard_action = action("&Discard unsaved changes", None, None,
                                     self.case_view.discard, "Go back to the saved case")
        self.find_action = action("&Find cases", None, QKeySequence.StandardKey.Find,
                                  self.list_panel.focus_search, "Search cases (Ctrl+F)")
        self.archive_action = action(*ARCHIVE, None,
                                     lambda: self.archive_case(self.case_view.case_id or ""),
                                     "Archive the open case (it asks first)")
        self.unarchive_action = action("&Unarchive", None, None,
                                       lambda: self.unarchive_case(self.case_view.case_id or ""),
                                       "Put the open case back in the status it had")
        self.list_action = action("Case &list", None, "Alt+L", self.list_panel.focus_list,
                                  "Move to the case list (Alt+L)")
        self.lock_action = action("&Lock", None, LOCK_KEYS, self.lock.lock,
                                  "Hide every patient detail until the PIN or passphrase is "
                                  "given (Ctrl+L)")
        tabs = self.case_view.tabs
        self.tab_actions = [
            action(text, None, f"Ctrl+{n}",
                   lambda i=n - 1: self._show_tab(i), f"Show the open case's {tip} (Ctrl+{n})")
            for n, (text, tip) in enumerate(
                (("Case &details", "details"), ("D&ocuments", "documents"),
                 ("AI &insights", "AI insights"), ("Histor&y", "history")), start=1)
            if n <= tabs.count()
        ]
        self.addAction(self.undo.action)
        self.shortcuts_action = action("&Keyboard shortcuts", None, QKeySequence.StandardKey.HelpContents,
                                       self.show_shortcuts, "Every action and its keys (F1)")
        self.about_action = action("&About Case Desk", None, None, self.show_about,
                                   "Version and where your data is")
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
        self.addActions(self.preview.window_actions)
        self.preview.reveal.connect(self._reveal_document)
        lists = self.list_panel
        self.menus = build_menu_bar(self.menuBar(), {
            "&File": [self.new_action, self.attach_action, self.save_action, None,
                      self.lock_action, self.quit_action],
            "&Edit": [self.undo.action, None, self.discard_action, None, self.find_action,
                      *self.preview.edit_actions],
            "&View": [("Sort &by", lists.sort_actions), ("Sort o&rder", [
                lists.ascending_action, lists.descending_action]),
                ("&Show", lists.filter_actions), None, self.list_action, *self.tab_actions,
                None, *self.preview.view_actions],
            "&Case": [self.archive_action, self.unarchive_action, None,
                      *self.case_actions.actions, None, *self.document_actions.actions, None,
                      *self.preview.case_actions],
            "&Sync": panel.actions,
            "&Help": [self.shortcuts_action, self.about_action],
        })

    def _reveal_document(self) -> None:
        if self.case_view.record is not None:
            self.case_view.tabs.setCurrentWidget(self.case_view.documents)

    def _show_tab(self, index: int) -> None:
        tabs = self.case_view.tabs
        if self.case_view.record is not None and 0 <= index < tabs.count():
            tabs.setCurrentIndex(index)
            page = tabs.currentWidget()
            first: QWidget = page
            widget = tabs.tabBar().nextInFocusChain()
            for _ in range(500):  # the section's first control, in Tab order
                if (page.isAncestorOf(widget) and widget.focusPolicy() & Qt.FocusPolicy.TabFocus
                        and widget.isVisible() and widget.isEnabled()):
                    first = widget
                    break
                widget = widget.nextInFocusChain()
            first.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self.menuBar(), self)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        dialog.open()

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About Case Desk",
            f"<p><b>Case Desk {__version__}</b></p><p>Patient cases and their documents, "
            "kept on this computer and synced with your clinic's server when one is set up."
            f"</p><p>Data folder: {self.ws.folder.root}</p>",
        )

    def _build_status_bar(self) -> None:
        steady_status_bar(self)
        bar = self.statusBar()
        for widget in self.attacher.status_widgets:
            bar.addWidget(widget)
        for widget in self.sync_panel.status_widgets:
            bar.addPermanentWidget(widget)

    def _status_message(self, text: str, msecs: int) -> None:
        self.statusBar().showMessage(text, msecs)

    def tab_chain(self) -> list[QWidget]:
        """The window's controls in Tab order, as they are shown now: the list, then the open
        case (its section tabs, then the fields and buttons of the section on show)."""
        form = self.case_view.form
        panel = self.list_panel
        view = self.case_view
        chain: list[QWidget] = [panel.search, panel.status_filter, panel.table]
        if view.record is None:
            return chain
        chain.append(view.tabs.tabBar())
        current = view.tabs.currentWidget()
        if current is view.details:
            chain += [form.name, form.age, form.status, form.notes, view.save_button,
                      view.revert_button, view.archive_button]
        else:
            chain += current.findChildren(QWidget)
        return [w for w in chain if w.focusPolicy() & Qt.FocusPolicy.TabFocus
                and w.isVisible() and w.isEnabled() and w.focusProxy() is None]

    def _set_tab_order(self) -> None:
        form = self.case_view.form
        panel = self.list_panel
        view = self.case_view
        chain = [panel.search, panel.status_filter, panel.table, view.tabs,
                 form.name, form.age, form.status, form.notes, view.save_button,
                 view.revert_button, view.archive_button]
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
        header = settings.value(HEADER_KEY)
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
        header = self.table.horizontalHeader()
        settings.setValue(HEADER_KEY, header.saveState())
        section = header.sortIndicatorSection()
        if 0 <= section < len(COLUMNS):
            descending = header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
            settings.setValue(SORT_KEY, sort_setting(COLUMNS[section][1], descending))
        settings.sync()

    # ------------------------------------------------------------ the open case

    def _case_chosen(self, case_id: str) -> None:
        self.guard_unsaved(proceed=lambda: self.open_case(case_id),
                           abandon=self.list_panel.reselect_open_case)

    def _open_case_label(self) -> tuple[str, str] | None:
        record = self.case_view.record
        return (record.id, record.patient_name) if record else None

    def open_case(self, case_id: str) -> None:
        # On the audit trail (a worker writes it); the History tab then shows it too.
        self.runner.run(lambda: self.ws.record_view(case_id),
                        success=lambda _r: self.history.reload(), failure=self._report)
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
        self.documents.panel.model.patient_name = record.patient_name
        self.documents.show_case(record.id)
        self.history.show_case(record.id)
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
        if self.case_view.case_id == record.id and record.removed_at is not None:
            self._case_deleted(record.id)
            return
        if self.case_view.case_id == record.id and not self.case_view.dirty:
            self.case_view.show_case(record)
            self._update_actions()

    def _case_deleted(self, case_id: str) -> None:
        """The open case was deleted: nothing is open any more."""
        if self.case_view.case_id != case_id:
            return
        self.case_view.show_case(None)
        self.documents.show_case(None)
        self.history.show_case(None)
        self.list_panel.open_case_id = None
        self._update_actions()

    def _analysis_finished(self, record: CaseRecord) -> None:
        ended = ("completed: its AI insights are in the case's AI insights tab"
                 if record.status == "completed" else "failed; you can request it again")
        self.statusBar().showMessage(f"Analysis of {record.patient_name} {ended}.", 20000)
        if self.case_view.case_id == record.id and not self.case_view.dirty:
            self.case_view.show_case(record)
        self._update_actions()

    def _dirty_changed(self, dirty: bool) -> None:
        self.setWindowModified(dirty)
        self._update_actions()

    def _update_actions(self) -> None:
        record = self.case_view.record
        dirty = record is not None and self.case_view.dirty
        archived = record is not None and record.status == ARCHIVED
        self.save_action.setEnabled(dirty)
        self.discard_action.setEnabled(dirty)
        self.archive_action.setEnabled(record is not None and not archived)
        self.unarchive_action.setEnabled(archived)
        self.attach_action.setEnabled(True)
        for act in self.tab_actions:
            act.setEnabled(record is not None)
        self.case_actions.update_actions()
        # "Amara Okafor — Case Desk", with the platform's unsaved mark where [*] stands.
        title = f"{record.patient_name}[*] — {APP_TITLE}" if record else APP_TITLE
        if self.lock.locked:  # shown again on unlock, never while locked
            self.lock.title_on_unlock(title)
        else:
            self.setWindowTitle(title)
        self.setWindowModified(dirty)

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
        self.statusBar().showMessage(saved_text(self.sync_panel.controller.state), 5000)
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

    def ask_archive(self, name: str) -> bool:
        """Archive needs a yes (tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Archive case",
                          f"Archive {name}?", parent=self)
        box.setInformativeText(
            "Archived cases are hidden from the list (choose “Archived” under Show to see "
            "them). Unarchive puts the case back in the status it has now.")
        archive = box.addButton("&Archive", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("&Keep it", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.exec()
        return box.clickedButton() is archive

    def archive_case(self, case_id: str) -> None:
        if not case_id:
            return

        def archive() -> None:
            record = self.case_view.record
            name = record.patient_name if record and record.id == case_id else "this case"
            if not self.ask_archive(name):
                return
            self.runner.run(lambda: self.ws.archive_case(case_id), success=self._archived,
                            failure=self._report, lane="write",
                            changes=Changes.case_written, initiator=self)

        self.guard_unsaved(proceed=archive, abandon=lambda: None)

    def _archived(self, record: CaseRecord) -> None:
        if self.case_view.case_id == record.id:
            self.case_view.show_case(record)
        self._update_actions()
        self.statusBar().showMessage(
            f"Archived {record.patient_name}. Archived cases are hidden; choose “Archived” "
            "under Show to see them, and Case › Unarchive to bring one back.", 10000
        )

    def unarchive_case(self, case_id: str) -> None:
        if not case_id:
            return

        def unarchive() -> None:
            self.runner.run(lambda: self.ws.unarchive_case(case_id), success=self._unarchived,
                            failure=self._report, lane="write",
                            changes=Changes.case_written, initiator=self)

        self.guard_unsaved(proceed=unarchive, abandon=lambda: None)

    def _unarchived(self, record: CaseRecord) -> None:
        if self.case_view.case_id == record.id:
            self.case_view.show_case(record)
        self._update_actions()
        self.statusBar().showMessage(
            f"{record.patient_name} is back in the list, with status {record.status}.", 8000)

    # ------------------------------------------------------------ new case

    def ask_new_case(self, reason: str | None = None) -> NewCase | str | None:
        """Show the New case dialog (tests replace this): the new case's fields, or the id of
        a case already here that the person chose to open instead (a possible duplicate)."""
        dialog = NewCaseDialog(
            self, reason, runner=self.runner,
            find_matches=lambda v: self.ws.similar_patients(
                v.patient_name, v.patient_age, v.patient_gender))
        try:
            if dialog.exec() == NewCaseDialog.DialogCode.Accepted:
                return dialog.open_case_id or dialog.value
            return None
        finally:
            dialog.deleteLater()

    def new_case(self, then: Callable[[CaseRecord], None] | None = None,
                 reason: str | None = None) -> None:
        def create() -> None:
            value = self.ask_new_case(reason)
            if value is None:
                return
            if isinstance(value, str):  # a case of this patient already here: open it
                self.list_panel.select_when_listed(value)
                self.open_case(value)
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
        self.statusBar().showMessage(
            saved_text(self.sync_panel.controller.state, f"Created {record.patient_name}"), 5000)
        self.case_view.tabs.setCurrentWidget(self.case_view.details)  # a new case starts here
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

    def _remove_local_copy(self) -> None:
        self.remove_copy_on_close = True
        self._close_confirmed = True  # unsaved edits go with the copy, as the person chose
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if not self._close_confirmed and self.case_view.dirty:
            event.ignore()

            def close_now() -> None:
                self._close_confirmed = True
                self.close()

            self.guard_unsaved(proceed=close_now, abandon=lambda: None)
            return
        self.save_settings()
        self.preview.close_windows()
        self.sync_panel.shutdown()
        self.attacher.close()
        self.runner.wait()
        event.accept()
