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
