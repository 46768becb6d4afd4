"""The case's History tab: conflicts settled on this case, with what was kept and what was
not, so choosing one side (or a merge) never makes the other side's clinical text unreadable.
Read off the GUI thread, and again whenever an operation touches the open case."""

from __future__ import annotations

import html

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from desktop.ui.changes import Changes
from desktop.ui.operations import OperationRunner
from desktop.ui.sync.conflict_words import FIELD_LABELS, server_time, shown
from desktop.workspace import SettledConflict, Workspace

NO_HISTORY = ("Nothing here yet. When a field is changed both on this computer and on the "
              "server, the version not kept is shown here after you choose.")
HOW = {"mine": "kept yours", "theirs": "took the server's", "merged": "wrote a merged value"}
WHOSE = {"mine": "Yours (this computer)", "server": "The server's"}


def history_html(settled: list[SettledConflict]) -> str:
    if not settled:
        return f"<p style='color:#616161'>{html.escape(NO_HISTORY)}</p>"
    parts = []
    for item in settled:
        field = html.escape(FIELD_LABELS.get(item.field, item.field))
        when = item.resolved_at.astimezone().strftime("%d %b %Y %H:%M")
        server = server_time(item.server_changed_at)
        parts.append(f"<h3>{field} — {html.escape(HOW.get(item.resolution, item.resolution))}"
                     f" <span style='color:#616161; font-weight:normal'>on {when}</span></h3>")
        parts.append(f"<p><b>Now:</b> {_text(item.resolved_value)}</p>")
        for whose, value in item.not_kept:
            label = WHOSE.get(whose, whose)
            if whose == "server" and server:
                label += f", written {server}"
            parts.append(f"<p><b>Not kept — {html.escape(label)}:</b><br>{_text(value)}</p>")
    return "".join(parts)


def _text(value: object) -> str:
    return html.escape(shown(value)).replace("\n", "<br>")


class HistoryView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.browser = QTextBrowser(self)
        self.browser.setAccessibleName("Values not kept in conflicts")
        self.browser.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browser)
        self.show_history([])

    def show_history(self, settled: list[SettledConflict]) -> None:
        bar = self.browser.verticalScrollBar()
        offset = bar.value()
        self.browser.setHtml(history_html(settled))
        bar.setValue(offset)  # a refresh keeps the reader's place

    def text(self) -> str:
        return self.browser.toPlainText()


class CaseHistory(QObject):
    """Keeps the History tab of the open case current."""

    def __init__(self, workspace: Workspace, runner: OperationRunner, view: HistoryView) -> None:
        super().__init__(view)
        self.ws, self.runner, self.view = workspace, runner, view
        self.case_id: str | None = None
        self._generation = 0
        runner.changed.connect(self._changed)

    def show_case(self, case_id: str | None) -> None:
        if case_id != self.case_id:
            self.case_id = case_id
            self.view.show_history([])
        self.reload()

    def reload(self) -> None:
        case_id = self.case_id
        if case_id is None:
            return
        self._generation += 1
        generation = self._generation

        def done(settled: list[SettledConflict]) -> None:
            if generation == self._generation and self.case_id == case_id:
                self.view.show_history(settled)

        self.runner.run(lambda: self.ws.settled_conflicts(case_id), success=done,
                        failure=lambda _e: None, lane="read")

    def _changed(self, changes: Changes, _initiator: object) -> None:
        if changes.touches_case(self.case_id):
            self.reload()
