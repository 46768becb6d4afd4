"""The open case's documents: read off the GUI thread, kept current from the runner's
``changed``, the selected one previewed, server-only bytes fetched on demand, and category
changes run as operations.

A reload leaves the table's rows in place (only what changed is updated, inserted or removed),
so a sync keeps the selection and the preview as they are: page, zoom and scroll.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject

from desktop.ui.changes import Changes
from desktop.ui.documents.documents_view import DocumentsPanel
from desktop.ui.documents.preview import PreviewWidget
from desktop.ui.operations import OperationRunner, user_message
from desktop.workspace import DocumentRecord, Workspace


class Downloader(Protocol):
    """Whoever can bring a server-only document's bytes here (the sync controller)."""

    def download(self, doc: DocumentRecord, failed: Callable[[str], None] | None = None) -> None:
        ...


class CaseDocuments(QObject):
    def __init__(
        self,
        workspace: Workspace,
        runner: OperationRunner,
        panel: DocumentsPanel,
        preview: PreviewWidget,
        downloader: Downloader,
    ) -> None:
        super().__init__(panel)
        self.ws, self.runner, self.panel, self.preview = workspace, runner, panel, preview
        self.downloader = downloader
        self.case_id: str | None = None
        self._generation = 0
        self._select: str | None = None  # a document to select when the next read lands
        panel.document_selected.connect(self._selected)
        panel.model.category_change_requested.connect(self._set_category)
        runner.changed.connect(self._changed)

    def show_case(self, case_id: str | None) -> None:
        """Another case is open (None: none); its documents load in the read lane."""
        if case_id != self.case_id:
            self.case_id = case_id
            self._select = None
            self.panel.model.set_documents([])
            self.preview.clear()
        if case_id is not None:
            self.reload()

    def select_when_loaded(self, document_id: str) -> None:
        self._select = document_id

    def reload(self) -> None:
        case_id = self.case_id
        if case_id is None:
            return
        self._generation += 1
        generation = self._generation

        def done(docs: list[DocumentRecord]) -> None:
            if generation != self._generation or self.case_id != case_id:
                return
            wanted = self._select or self.panel.selected_id()
            self._select = None
            before = {d.id: d for d in self.panel.model.documents}
            self.panel.model.set_documents(docs)
            if wanted is not None and self.panel.selected_id() != wanted:
                self.panel.select_document(wanted)
                return
            # The selected document itself changed (its bytes arrived, say): show it as it is
            # now. The preview leaves a document it already shows alone (page, zoom, scroll).
            current = next((d for d in docs if d.id == wanted), None)
            if current is not None and before.get(current.id) not in (None, current):
                self._selected(current, fetch=False)

        self.runner.run(lambda: self.ws.documents(case_id), success=done,
                        failure=lambda e: self.preview.set_note(user_message(e)), lane="read")

    def _changed(self, changes: Changes, initiator: object) -> None:
        if initiator is not self and changes.touches_documents(self.case_id):
            self.reload()

    def _selected(self, doc: DocumentRecord | None, fetch: bool = True) -> None:
        if doc is None:
            self.preview.clear()
            return
        # Where the bytes are is known from the hash alone: no disk access on the GUI thread
        # (the preview worker reports a missing file in words).
        path = self.ws.blobs.ref(doc.sha256) if doc.sha256 else None
        shown_before = self.preview.shown
        self.preview.show_document(doc.name, doc.mime_type, path)
        if path is not None and fetch and (shown_before is None or shown_before.path != path):
            # A document looked at is on the audit trail (a refresh of the same one is not).
            case_id, doc_id = doc.case_id, doc.id
            self.runner.run(lambda: self.ws.record_view(case_id, doc_id),
                            failure=lambda _e: None)
        if path is None and doc.state == "remote_only" and fetch:
            # On demand; when it lands, the reload shows it in place.
            self.downloader.download(doc, failed=lambda text: self._not_fetched(doc.id, text))

    def _not_fetched(self, document_id: str, text: str) -> None:
        if self.panel.selected_id() == document_id:
            self.preview.set_note(text)

    def _set_category(self, document_id: str, category: str) -> None:
        case = frozenset({self.case_id}) if self.case_id else frozenset()
        self.runner.run(
            lambda: self.ws.set_document_category(document_id, category),
            success=self.panel.model.update_document,
            failure=lambda e: self.preview.set_note(user_message(e)),
            lane="write",
            changes=Changes(documents=case),
            initiator=self,
        )
