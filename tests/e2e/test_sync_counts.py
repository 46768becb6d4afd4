"""A run's counts say what happened: files sent inside a new case count as uploaded, and a
server change merged into a case count as changed from the server, whichever step merged it."""

from __future__ import annotations

from desktop.cli import sync_summary
from tests.e2e.test_sync_scenarios import PNG


def test_files_sent_with_a_new_case_count_as_uploaded(harness):
    h = harness
    case = h.ws.create_case("Jane Smith", 32, "female", "Follow-up")
    h.ws.attach(case.id, [h.file("hba1c.pdf"), h.file("foot.png", PNG)])
    report = h.sync()
    assert report.ok and report.created == 1, report
    assert len(h.server.files(h.ws.get_case(case.id).server_id)) == 2
    assert report.uploaded == 2, report  # they travelled inside the create
    assert "2 uploaded" in sync_summary(report)


def test_a_server_change_merged_while_pushing_counts_as_changed(harness):
    """An edit here reads the server's copy first; the server's change to another field is
    merged then, and the pull that follows finds nothing new: it still counts once."""
    h = harness
    case = h.ws.create_case("Jane Smith", 32, "female", "Follow-up")
    assert h.sync().ok
    server_id = h.ws.get_case(case.id).server_id
    h.server.edit_case(server_id, case_summary="Written on the server")
    h.ws.edit_case(case.id, patient_name="Jane A. Smith")
    report = h.sync()
    assert report.ok and report.updated == 1, report
    assert h.ws.get_case(case.id).case_summary == "Written on the server"
    assert report.pulled_changed == 1, report
    assert "0 new and 1 changed from the server" in sync_summary(report)
    again = h.sync()
    assert again.ok and again.pulled_changed == 0 and again.updated == 0, again


def test_a_server_change_merged_by_the_pull_counts_once(harness):
    h = harness
    case = h.ws.create_case("Jane Smith", 32, "female", "Follow-up")
    assert h.sync().ok
    h.server.edit_case(h.ws.get_case(case.id).server_id, status="completed")
    report = h.sync()
    assert report.ok and report.pulled_changed == 1, report
