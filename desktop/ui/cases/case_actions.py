"""Delete a case (it asks first, naming the patient and how many documents go with it; Edit ›
Undo brings it back until the server has deleted it) and request its analysis. Each runs as an
operation that says what it changed; the list, the open case and the counts refresh
themselves."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from desktop.ui.changes import Changes
from desktop.ui.confirm import accepted, deletion_box
from desktop.ui.operations import OperationRunner, user_message
from desktop.ui.undo import UndoLast
from desktop.workspace import CaseDeletion, CaseRecord, Workspace


class CaseActions(QObject):
    message = Signal(str, int)  # status bar text, milliseconds
    deleted = Signal(str)  # a case left the list (deleted here)
    analysis_requested = Signal(str)  # case id

    def __init__(self, workspace: Workspace, runner: OperationRunner, undo: UndoLast,
                 parent: QWidget, open_case: Callable[[], CaseRecord | None]) -> None:
        super().__init__(parent)
        self.ws, self.runner, self.undo, self._parent = workspace, runner, undo, parent
        self._open_case = open_case
        self.delete_action = QAction("&Delete case…", parent)
        self.delete_action.setToolTip("Delete the open case with its documents (it asks first)")
        self.delete_action.triggered.connect(lambda _c=False: self.delete_open())
        self.analyze_action = QAction("Request a&nalysis", parent)
        self.analyze_action.setToolTip("Ask the server to analyse the open case (AI insights)")
        self.analyze_action.triggered.connect(lambda _c=False: self.analyze_open())
        self.actions = [self.delete_action, self.analyze_action]
        self.update_actions()

    def update_actions(self) -> None:
        record = self._open_case()
        self.delete_action.setEnabled(record is not None)
        self.analyze_action.setEnabled(record is not None and record.analysis not in (
            "requested", "processing", "analyzing"))

    # ------------------------------------------------------------ delete

    def ask_delete(self, patient: str, documents: int) -> bool:
        """The confirmation (tests replace this)."""
        return accepted(deletion_box(self._parent, patient, documents))

    def delete_open(self) -> None:
        record = self._open_case()
        if record is not None:
            self.delete(record)

    def delete(self, record: CaseRecord) -> None:
        # How many documents go with it is read first, off the GUI thread.
        self.runner.run(lambda: len(self.ws.documents(record.id)),
                        success=lambda n: self._confirm_delete(record, n),
                        failure=self._failed, lane="read")

    def _confirm_delete(self, record: CaseRecord, documents: int) -> None:
        if not self.ask_delete(record.patient_name, documents):
            return
        self.runner.run(lambda: self.ws.delete_case(record.id), success=self._deleted,
                        failure=self._failed, lane="write",
                        changes=Changes(cases=frozenset({record.id}), case_list=True,
                                        documents=frozenset({record.id}), outbox=True,
                                        local=True),
                        initiator=self)

    def _deleted(self, deletion: CaseDeletion) -> None:
        record = deletion.case
        if deletion.waits_for_server:
            self.undo.offer(f"deletion of {record.patient_name}", lambda: self.restore(record))
            self.message.emit(f"Deleted the case of {record.patient_name}; the server deletes "
                              "it at the next sync (Edit › Undo until then).", 10000)
        else:
            self.undo.clear()
            self.message.emit(f"Deleted the case of {record.patient_name}.", 8000)
        self.deleted.emit(record.id)

    def restore(self, record: CaseRecord) -> None:
        self.runner.run(
            lambda: self.ws.restore_case(record.id),
            success=lambda r: self.message.emit(
                f"The case of {r.patient_name} is back in the list.", 6000),
            failure=self._failed, lane="write", changes=Changes.case_written, initiator=self)

    # ------------------------------------------------------------ analysis

    def analyze_open(self) -> None:
        record = self._open_case()
        if record is None:
            return
        self.runner.run(lambda: self.ws.request_analysis(record.id), success=self._requested,
                        failure=self._failed, lane="write", changes=Changes.case_written,
                        initiator=self)

    def _requested(self, record: CaseRecord) -> None:
        self.message.emit(f"Analysis of {record.patient_name} requested; it is sent with the "
                          "next sync, and the case shows how it stands.", 8000)
        self.analysis_requested.emit(record.id)
        self.update_actions()

    def _failed(self, error: BaseException) -> None:
        self.message.emit(user_message(error), 10000)
