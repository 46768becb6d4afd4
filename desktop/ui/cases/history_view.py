"""The case's History tab: conflicts settled on this case, with what was kept and what was
not, so choosing one side (or a merge) never makes the other side's clinical text unreadable;
then the case's audit trail (who viewed or changed what, and when). Read off the GUI thread,
and again whenever an operation touches the open case."""

from __future__ import annotations

import html

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from desktop.models.audit import Entry
from desktop.ui.changes import Changes
from desktop.ui.operations import OperationRunner
from desktop.ui.sync.conflict_words import FIELD_LABELS, server_time, shown
from desktop.workspace import SettledConflict, Workspace

NO_HISTORY = ("Nothing here yet. When a field is changed both on this computer and on the "
              "server, the version not kept is shown here after you choose.")
HOW = {"mine": "kept yours", "theirs": "took the server's", "merged": "wrote a merged value"}
WHOSE = {"mine": "Yours (this computer)", "server": "The server's"}


ACTIONS = {"view": "viewed", "create": "created the case", "edit": "changed",
           "attach": "attached", "remove": "removed", "move": "moved", "delete": "deleted",
           "restore": "restored", "analyze": "requested an analysis",
           "export": "exported", "resolve_conflict": "settled a conflict on",
           "discard_change": "gave up an unsent change", "sign_in": "signed in",
           "sign_out": "signed out"}


def trail_html(entries: list[Entry]) -> str:
    """The case's audit entries, newest first."""
    if not entries:
        return ""
    rows = []
    for entry in reversed(entries):
        when = entry.at.astimezone().strftime("%d %b %Y %H:%M:%S")
        who = entry.os_user + (f" ({entry.account})" if entry.account else "")
        what = ACTIONS.get(entry.action, entry.action)
        detail = entry.detail
        if entry.action == "edit":
            field = FIELD_LABELS.get(detail.get("field", ""), detail.get("field", ""))
            what += (f" {html.escape(field)}: {_text(detail.get('before'))} → "
                     f"{_text(detail.get('after'))}")
        elif entry.action in ("attach", "remove", "move", "delete", "restore") and \
                detail.get("name"):
            what += f" {_text(detail['name'])}"
        elif entry.action == "resolve_conflict":
            field = FIELD_LABELS.get(detail.get("field", ""), detail.get("field", ""))
            what += f" {html.escape(field)} ({html.escape(HOW.get(detail.get('choice'), ''))})"
        elif entry.action == "view" and entry.document_id:
            what += " a document"
        rows.append(f"<li>{html.escape(when)} — {html.escape(who)}: {what}</li>")
    return "<h3>Audit trail</h3><ul>" + "".join(rows) + "</ul>"


def history_html(settled: list[SettledConflict], entries: list[Entry] | None = None) -> str:
    trail = trail_html(entries or [])
    if not settled:
        return f"<p style='color:#616161'>{html.escape(NO_HISTORY)}</p>{trail}"
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
    return "".join(parts) + trail


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

    def show_history(self, settled: list[SettledConflict],
                     entries: list[Entry] | None = None) -> None:
        bar = self.browser.verticalScrollBar()
        offset = bar.value()
        self.browser.setHtml(history_html(settled, entries))
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

        def done(found: tuple[list[SettledConflict], list[Entry]]) -> None:
            if generation == self._generation and self.case_id == case_id:
                self.view.show_history(*found)

        def read() -> tuple[list[SettledConflict], list[Entry]]:
            return self.ws.settled_conflicts(case_id), self.ws.audit_entries(case_id)

        self.runner.run(read, success=done,
                        failure=lambda _e: None, lane="read")

    def _changed(self, changes: Changes, _initiator: object) -> None:
        if changes.touches_case(self.case_id):
            self.reload()
