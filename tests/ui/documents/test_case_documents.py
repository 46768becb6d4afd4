"""The open case's documents against a real server, under each kind of profile: opening a case
that is on the server lists the files added there, and selecting one fetches it (or says why
it cannot be had); a reload that finds nothing new leaves the reader where they were."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from desktop.sync import registry, runner
from desktop.sync.kind import CodeSent
from desktop.ui.changes import Changes
from desktop.ui.main_window import MainWindow
from desktop.ui.sample_files import write_pdf
from desktop.workspace import Workspace
from tests import samples
from tests.server.care360_store import DEFAULT_API_KEY
from tests.signin import sign_in

from ..conftest import select_case, settle

PDF = samples.PDF  # a whole one-page PDF: intake checks that a file is whole
EMAIL = "dr@example.org"


def server_ready(qtbot, window: MainWindow) -> None:
    """The window has read the profile signed in behind its back, and lists the cases."""
    controller = window.sync_panel.controller
    controller.load_profile()
    qtbot.waitUntil(lambda: controller.configured, timeout=5000)
    window.model.refresh()
    settle(qtbot, window)


def linked_case_with_a_server_only_file(
    kind: str, ws: Workspace, server, report: Path
) -> tuple[str, str]:
    """(case id, file name): a case of this computer that is on the server (MedMitra) or
    linked to a portal case (Care360), and a file added there from elsewhere."""
    if kind == "medmitra":
        sign_in(ws, server.url)
        case = ws.create_case("Linked Patient", 50, "female")
        assert runner.run_sync(ws).ok
        server_id = ws.get_case(case.id).server_id
        server.add_file(server_id, "lab-report.pdf", report.read_bytes(), "application/pdf",
                        "lab")
        return case.id, "lab-report.pdf"
    care360 = registry.kind("care360")
    pending = care360.begin_sign_in(ws, server.url, EMAIL, DEFAULT_API_KEY)
    assert isinstance(pending, CodeSent)
    care360.finish_sign_in(ws, pending, server.care360_otp(EMAIL))
    case = ws.create_case("Linked Patient", 50, "female")
    portal_case = str(uuid.uuid4())
    server.care360_add_case(EMAIL, portal_case)
    care360.link_case(ws, case.id, portal_case)
    with registry.open_client(ws) as client:  # the patient's portal, from another device
        client.upload_file(report, "portal-report.pdf", "application/pdf", case_id=portal_case)
    return case.id, "portal-report.pdf"


@pytest.mark.parametrize("kind", ["medmitra", "care360"])
def test_opening_a_linked_case_lists_the_servers_files_and_a_selected_one_is_fetched(
    kind: str, qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring,
    tmp_path: Path,
) -> None:
    report = write_pdf(tmp_path / "report.pdf", pages=1)
    case_id, name = linked_case_with_a_server_only_file(kind, ws, reference_server, report)
    server_ready(qtbot, window)

    select_case(qtbot, window, case_id)  # opening it asks the server for its files
    docs = window.case_view.documents
    qtbot.waitUntil(lambda: docs.model.rowCount() == 1, timeout=20000)
    settle(qtbot, window)
    [doc] = ws.documents(case_id)
    assert (doc.name, doc.state) == (name, "remote_only")

    preview = window.preview
    with qtbot.waitSignal(preview.rendered, timeout=20000):
        docs.select_document(doc.id)
    if kind == "medmitra":  # downloaded on demand, then shown in place
        qtbot.waitUntil(lambda: ws.documents(case_id)[0].state == "downloaded", timeout=20000)
        qtbot.waitUntil(lambda: preview.kind == "pdf", timeout=20000)
        settle(qtbot, window)
        assert ws.stored_bytes(ws.documents(case_id)[0]).read() == report.read_bytes()
        assert docs.selected_id() == doc.id
    else:  # Care360's API hands out no file bytes: said in words, nothing else happens
        message = "Care360 does not let other programs download its documents"
        qtbot.waitUntil(lambda: message in preview.note.text(), timeout=20000)
        settle(qtbot, window)
        assert message in window.statusBar().currentMessage()
        assert ws.documents(case_id)[0].state == "remote_only"
        assert preview.kind is None


def test_a_sync_that_changes_nothing_here_keeps_the_document_on_show(
    qtbot, window: MainWindow, ws: Workspace, tmp_path: Path,
) -> None:
    case = ws.create_case("Reader", 40, "female")
    pdf = write_pdf(tmp_path / "report.pdf", pages=2)
    ws.attach(case.id, [pdf])
    window.model.refresh()
    settle(qtbot, window)
    select_case(qtbot, window, case.id)
    docs, preview = window.case_view.documents, window.preview
    qtbot.waitUntil(lambda: docs.model.rowCount() == 1, timeout=5000)
    with qtbot.waitSignal(preview.rendered, timeout=10000):
        docs.table.selectRow(0)
    preview.pdf.go_to_page(1)
    qtbot.waitUntil(lambda: preview.page == 1, timeout=5000)
    window.runner.changed.emit(Changes.everything(), None)  # as a finished sync announces
    settle(qtbot, window)
    assert docs.selected_id() is not None and preview.page == 1
    assert preview.kind == "pdf"


def test_server_only_document_downloads_when_selected(
    qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring
) -> None:
    remote = reference_server.create_case("doctor-1", patient_name="Remote Doc Patient",
                                          patient_age=50, patient_gender="female")
    reference_server.add_file(remote["case_id"], "report.pdf", PDF, "application/pdf", "lab")
    sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
    assert runner.run_sync(ws).ok
    window.sync_panel.controller.load_profile()
    qtbot.waitUntil(lambda: window.sync_panel.controller.configured, timeout=5000)
    window.model.refresh()
    settle(qtbot, window)
    [case] = ws.list_cases()
    select_case(qtbot, window, case.id)
    [doc] = ws.documents(case.id)
    assert doc.state == "remote_only"
    window.case_view.documents.select_document(doc.id)
    qtbot.waitUntil(lambda: ws.documents(case.id)[0].state == "downloaded", timeout=20000)
    settle(qtbot, window)
    assert ws.stored_bytes(ws.documents(case.id)[0]).read() == PDF


def test_opening_a_case_fetches_its_files_and_insights(
    qtbot, window: MainWindow, ws: Workspace, reference_server, memory_keyring
) -> None:
    sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
    case = ws.create_case("Opened Patient", 50, "female")
    assert runner.run_sync(ws).ok
    server_id = ws.get_case(case.id).server_id
    # Added on the server after the last sync: only opening the case brings them now.
    reference_server.add_file(server_id, "late-report.pdf", PDF, "application/pdf", "lab")
    reference_server.set_insights(server_id, {"comprehensive_summary": "Stable",
                                              "icd_code": "E11.9"})
    window.sync_panel.controller.load_profile()
    qtbot.waitUntil(lambda: window.sync_panel.controller.configured, timeout=5000)
    window.model.refresh()
    settle(qtbot, window)
    select_case(qtbot, window, case.id)
    docs = window.case_view.documents
    qtbot.waitUntil(lambda: docs.model.rowCount() == 1, timeout=20000)
    settle(qtbot, window)
    assert ws.get_case(case.id).ai_insights["icd_code"] == "E11.9"
    assert [d.name for d in ws.documents(case.id)] == ["late-report.pdf"]
