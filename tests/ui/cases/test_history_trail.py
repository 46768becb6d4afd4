"""The case's History tab shows its audit trail: who viewed and changed what, and when; and
opening a case in the window puts a view on the trail."""

from __future__ import annotations

import getpass

from desktop.ui.main_window import MainWindow
from desktop.workspace import Workspace

from ..conftest import select_case, settle


def test_opening_a_case_is_recorded_and_its_history_shows_the_trail(
        qtbot, make_window, ws: Workspace) -> None:
    case = ws.create_case("Ottoline Marsh", 70, "female", case_summary="before")
    ws.edit_case(case.id, case_summary="after")
    window: MainWindow = make_window()
    settle(qtbot, window)
    select_case(qtbot, window, case.id)
    qtbot.waitUntil(lambda: any(e.action == "view" for e in ws.audit_entries(case.id)),
                    timeout=5000)
    history = window.case_view.history
    qtbot.waitUntil(lambda: "viewed" in history.text(), timeout=5000)
    text = history.text()
    assert "Audit trail" in text and "created the case" in text
    assert "before → after" in text and getpass.getuser() in text
    assert ws.verify_audit() == []


def test_a_sync_refreshing_an_open_document_adds_no_view(qtbot, make_window, ws: Workspace,
                                                          tmp_path) -> None:
    """A view is a person opening a case or a document; the refresh a sync brings to what
    is already open is not another view (else every sync multiplies the trail)."""
    from desktop.ui.changes import Changes
    from tests import samples

    case = ws.create_case("Ottoline Marsh", 70, "female")
    source = tmp_path / "lab.pdf"
    source.write_bytes(samples.pdf(pages=2))
    [attached] = ws.attach(case.id, [source])
    window: MainWindow = make_window()
    settle(qtbot, window)
    select_case(qtbot, window, case.id)
    docs = window.case_view.documents
    window.case_view.tabs.setCurrentWidget(docs)
    qtbot.waitUntil(lambda: docs.model.rowCount() == 1, timeout=5000)
    docs.table.selectRow(0)

    def views() -> list[str | None]:
        return [e.document_id for e in ws.audit_entries(case.id) if e.action == "view"]

    qtbot.waitUntil(lambda: views() == [None, attached.document.id], timeout=5000)
    for _ in range(3):  # three syncs while the document is open
        window.runner.changed.emit(Changes.everything(), None)
        settle(qtbot, window)
        qtbot.wait(100)
    settle(qtbot, window)
    assert views() == [None, attached.document.id]
