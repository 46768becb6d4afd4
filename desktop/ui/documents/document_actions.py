"""Remove and move the open case's documents: the Delete key and the list's context menu,
"Move to…" and drag onto a case row, each run as an operation that says what it changed.

A removal asks first (naming the patient and the file) and can be undone (Edit › Undo) until
it has reached the server. A move of a document whose bytes are only on the server fetches
them first: the copy on the new case is sent from this computer.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from desktop.sync import runner as sync_runner
from desktop.ui.changes import Changes
from desktop.ui.confirm import accepted, removal_box
from desktop.ui.documents.case_documents import CaseDocuments
from desktop.ui.documents.move_dialog import MoveDialog
from desktop.ui.operations import OperationRunner, user_message
from desktop.ui.undo import UndoLast
from desktop.workspace import (
    ContentNotHereError,
    DocumentMove,
    DocumentRecord,
    DocumentRemoval,
    Workspace,
)


class DocumentActions(QObject):
    message = Signal(str, int)  # status bar text, milliseconds

    def __init__(self, workspace: Workspace, runner: OperationRunner, documents: CaseDocuments,
                 undo: UndoLast, parent: QWidget,
                 patient_name: Callable[[], str]) -> None:
        super().__init__(parent)
        self.ws, self.runner, self.documents, self.undo = workspace, runner, documents, undo
        self._parent, self._patient_name = parent, patient_name
        table = documents.panel.table
        self.remove_action = QAction("R&emove document…", parent)
        self.remove_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.remove_action.setToolTip("Remove the selected document from this case (Delete); "
                                      "it asks first")
        self.remove_action.triggered.connect(lambda _c=False: self.remove_selected())
        self.move_action = QAction("&Move document to…", parent)
        self.move_action.setToolTip("Move the selected document to another case (or drag it "
                                    "onto a case in the list)")
        self.move_action.triggered.connect(lambda _c=False: self.move_selected())
        # The list's own context menu and its Delete key; the Case menu lists them too.
        table.addAction(self.remove_action)
        table.addAction(self.move_action)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.actions = [self.remove_action, self.move_action]
        table.selectionModel().selectionChanged.connect(lambda *_: self._update())
        documents.panel.model.modelReset.connect(self._update)
        self._update()

    def _update(self) -> None:
        selected = self.selected() is not None
        for act in self.actions:
            act.setEnabled(selected)

    def selected(self) -> DocumentRecord | None:
        panel = self.documents.panel
        return panel.model.document(panel.table.currentIndex().row()) if (
            panel.table.currentIndex().isValid()) else None

    # ------------------------------------------------------------ remove

    def ask_remove(self, patient: str, document: str) -> bool:
        """The confirmation (tests replace this)."""
        return accepted(removal_box(self._parent, patient, document))

    def remove_selected(self) -> None:
        doc = self.selected()
        if doc is None:
            return
        if not self.ask_remove(self._patient_name(), doc.name):
            return
        self.runner.run(lambda: self.ws.remove_document(doc.id), success=self._removed,
                        failure=self._failed, lane="write", changes=self._changes(doc.case_id),
                        initiator=self)

    def _removed(self, removal: DocumentRemoval) -> None:
        doc = removal.document
        if removal.waits_for_server:
            self.undo.offer(f"removal of {doc.name}", lambda: self.restore(doc))
            self.message.emit(f"Removed {doc.name} from the case of {removal.patient_name}; the "
                              "server removes it at the next sync (Edit › Undo until then).",
                              10000)
        else:
            self.undo.clear()
            self.message.emit(f"Removed {doc.name} from the case of {removal.patient_name}.",
                              8000)

    def restore(self, doc: DocumentRecord) -> None:
        self.runner.run(lambda: self.ws.restore_document(doc.id),
                        success=lambda d: self.message.emit(f"{d.name} is back on its case.",
                                                            6000),
                        failure=self._failed, lane="write", changes=self._changes(doc.case_id),
                        initiator=self)

    # ------------------------------------------------------------ move

    def ask_target(self, doc: DocumentRecord) -> tuple[str, str] | None:
        """The case picker: (case id, patient name), or None (tests replace this)."""
        dialog = MoveDialog(self.ws, self.runner, doc.name, doc.case_id, self._parent)
        try:
            return dialog.chosen if dialog.exec() == MoveDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()

    def move_selected(self) -> None:
        doc = self.selected()
        if doc is None:
            return
        target = self.ask_target(doc)
        if target is not None:
            self.move(doc.id, target[0])

    def move(self, document_id: str, to_case: str) -> None:
        """Move a document (from the list's drag and drop, or Move to…)."""
        def work() -> DocumentMove:
            try:
                return self.ws.move_document(document_id, to_case)
            except ContentNotHereError:
                sync_runner.download(self.ws, document_id)  # its bytes first
                return self.ws.move_document(document_id, to_case)

        def changes(move: DocumentMove) -> Changes:
            both = frozenset({move.source.case_id, move.document.case_id})
            return Changes(cases=both, documents=both, case_list=True, outbox=True, local=True)

        self.runner.run(work, success=self._moved, failure=self._failed, lane="write",
                        changes=changes, initiator=self)

    def _moved(self, move: DocumentMove) -> None:
        then = (" The server gets it on the new case at the next sync, and only then loses it "
                "from the old one." if move.waits_for_server else "")
        self.message.emit(f"Moved {move.document.name} from the case of {move.from_patient} to "
                          f"the case of {move.to_patient}.{then}", 10000)

    # ------------------------------------------------------------ shared

    @staticmethod
    def _changes(case_id: str) -> Changes:
        return Changes(cases=frozenset({case_id}), documents=frozenset({case_id}),
                       case_list=True, outbox=True, local=True)

    def _failed(self, error: BaseException) -> None:
        self.message.emit(user_message(error), 10000)
