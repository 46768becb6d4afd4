"""The view stays put: a sync (F5, the periodic one, the push after a save) against the
reference server changes none of what the person is looking at: the open case, its tab, the
selected document, the PDF's page, zoom and scroll, the list's scroll position."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

from desktop.ui.main_window import MainWindow
from desktop.ui.sample_files import write_pdf
from desktop.workspace import Workspace
from tests.signin import sign_in
from tools.sample_data import bulk_insert

from .conftest import select_case, settle


def view_of(window: MainWindow) -> dict[str, object]:
    QApplication.processEvents()
    table = window.table
    docs = window.case_view.documents
    return {
        "case": window.case_view.case_id,
        "tab": window.case_view.tabs.currentIndex(),
        "document": docs.selected_id(),
        "pdf": window.preview.pdf.state(),
        "kind": window.preview.kind,
        # The rows on screen (a case inserted above moves the scroll bar by a row, not them).
        "list top": window.model.case_id(table.rowAt(0)),
        "list offset": table.rowViewportPosition(table.rowAt(0)),
        "selected row": window.model.case_id(table.currentIndex().row()),
    }


def wait_sync(qtbot, window: MainWindow) -> None:
    controller = window.sync_panel.controller
    qtbot.waitUntil(lambda: not controller.running, timeout=30000)
    settle(qtbot, window)


def test_a_sync_never_moves_what_the_person_is_reading(
        qtbot, make_window, ws: Workspace, reference_server, memory_keyring,
        tmp_path: Path) -> None:
    sign_in(ws, reference_server.url)
    bulk_insert(ws, 300)  # enough cases to scroll
    case = ws.create_case("Amara Okafor", 47, "female", "Productive cough")
    window = make_window()
    window.resize(1280, 800)
    wait_sync(qtbot, window)  # the sync at start: the case goes to the server
    controller = window.sync_panel.controller
    controller._push.setInterval(50)
    assert ws.get_case(case.id).server_id is not None
    # A lab report attached since: the next sync uploads it while it is being read (its
    # state changes under the reader's eyes).
    ws.attach(case.id, [write_pdf(tmp_path / "labs.pdf", pages=3)])

    select_case(qtbot, window, case.id)
    docs = window.case_view.documents
    window.case_view.tabs.setCurrentWidget(docs)
    qtbot.waitUntil(lambda: docs.model.rowCount() == 1, timeout=5000)
    with qtbot.waitSignal(window.preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    pdf = window.preview.pdf
    pdf.go_to_page(1)  # page 2
    qtbot.waitUntil(lambda: pdf.page == 1, timeout=5000)
    pdf.zoom_in()
    pdf.view.verticalScrollBar().setValue(pdf.view.verticalScrollBar().value() + 40)
    pdf.view.horizontalScrollBar().setValue(25)
    window.table.verticalScrollBar().setValue(120)  # the list, read further down
    before = view_of(window)
    assert before["pdf"].page == 1 and before["kind"] == "pdf"
    assert before["selected row"] == case.id

    # The server changes the open case and another; F5.
    server_id = ws.get_case(case.id).server_id
    reference_server.edit_case(server_id, status="analyzing")
    other = ws.create_case("Bruno Berger", 60, "male")
    window.sync_panel.sync_action.trigger()
    wait_sync(qtbot, window)
    assert ws.get_case(case.id).status == "analyzing"  # it did sync
    assert ws.get_case(other.id).server_id is not None
    assert [d.state for d in ws.documents(case.id)] == ["uploaded"]
    qtbot.waitUntil(lambda: window.case_view.form.status.currentText() == "analyzing",
                    timeout=5000)
    assert view_of(window) == before

    # The periodic sync.
    reference_server.edit_case(server_id, case_summary="Cough, now on antibiotics")
    controller.sync(manual=False)
    wait_sync(qtbot, window)
    assert ws.get_case(case.id).case_summary == "Cough, now on antibiotics"
    assert view_of(window) == before

    # A save (Ctrl+S while reading) and the push that follows it.
    window.case_view.form.notes.setPlainText("Cough, now on antibiotics. Seen again.")
    window.save()
    qtbot.waitUntil(lambda: reference_server.case(server_id)["case"]["case_summary"]
                    == "Cough, now on antibiotics. Seen again.", timeout=20000)
    wait_sync(qtbot, window)
    assert view_of(window) == before
