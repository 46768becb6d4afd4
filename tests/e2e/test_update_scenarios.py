"""Case updates over the reference server: an emptied note, a field the server does not apply,
and two workstations on one account writing the same case with the network in between.

The API has no version or If-Match, so two writes can still cross; these scenarios show what
each workstation detects (a conflict, a case reported as changed meanwhile) and, in the one
case nothing can detect, what the remaining window is (the README states it too).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.cli import main, sync_summary
from desktop.models.tables import ChangeState
from desktop.sync.medmitra.engine import Written
from desktop.sync.records import RemoteCase
from desktop.workspace import Workspace
from tests.e2e.conftest import Harness
from tests.signin import sign_in


@pytest.fixture
def desks(reference_server, memory_keyring, tmp_path) -> Iterator[tuple[Harness, Harness]]:
    """Two workstations signed in to the same doctor's account."""
    with Workspace.open(tmp_path / "a") as a, Workspace.open(tmp_path / "b") as b:
        for ws in (a, b):
            sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
        yield Harness(a, reference_server, tmp_path), Harness(b, reference_server, tmp_path)


def shared_case(a: Harness, b: Harness, summary: str = "Follow-up") -> tuple[str, str, str]:
    """A case made on A, synced, and pulled by B: (A's id, B's id, server id)."""
    case = a.ws.create_case("Jane Smith", 32, "female", summary)
    assert a.sync().ok and b.sync().ok
    server_id = a.ws.get_case(case.id).server_id
    assert server_id is not None
    [on_b] = b.ws.list_cases()
    return case.id, on_b.id, server_id


def on_server(h: Harness, server_id: str) -> dict:
    return h.server.case(server_id)["case"]


def cli(data: Path, *args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--data-dir", str(data), *args], out=out, err=err)
    return code, out.getvalue() + err.getvalue()


# ------------------------------------------------------------------ emptied fields


def test_an_emptied_note_reaches_the_server_as_empty(desks):
    a, b = desks
    case_id, on_b, server_id = shared_case(a, b)
    code, _ = cli(a.tmp / "a", "cases", "edit", case_id, "--summary", "")
    assert code == 0
    report = a.sync()
    assert report.ok and report.updated == 1 and report.parked == 0, report
    assert on_server(a, server_id)["case_summary"] == ""
    assert a.ws.get_case(case_id).sync_state == "synced" and a.ws.pending() == []
    assert b.sync().ok and b.ws.get_case(on_b).case_summary in (None, "")


def test_an_emptied_note_sent_with_another_field_is_applied_too(desks):
    a, b = desks
    case_id, _, server_id = shared_case(a, b)
    a.ws.edit_case(case_id, patient_name="Jane Doe", case_summary="")
    assert a.sync().ok
    server = on_server(a, server_id)
    assert (server["patient_name"], server["case_summary"]) == ("Jane Doe", "")


def test_a_field_the_server_did_not_apply_stays_queued_with_the_reason(desks):
    """A backend that drops "" as it drops null: its answer shows the old note, so the
    change is set aside with that reason, never marked synced."""
    a, b = desks
    case_id, _, server_id = shared_case(a, b)
    a.server.set_quirks(empty_ignored=True)
    a.ws.edit_case(case_id, patient_name="Jane Doe", case_summary="")
    report = a.sync()
    assert report.updated == 1 and report.parked == 1
    server = on_server(a, server_id)
    assert (server["patient_name"], server["case_summary"]) == ("Jane Doe", "Follow-up")
    [change] = a.ws.pending()
    assert change.kind == "update_case" and change.fields == ("case_summary",)
    assert change.state == ChangeState.PARKED and "did not apply case_summary" in change.last_error
    case = a.ws.get_case(case_id)
    assert case.sync_state == "error" and "did not apply" in case.sync_error
    assert case.case_summary is None  # the person's edit is kept here
    code, out = cli(a.tmp / "a", "pending")
    assert "did not apply case_summary" in out


def test_resolve_mine_of_an_emptied_note_syncs(desks):
    a, b = desks
    case_id, on_b, server_id = shared_case(a, b)
    b.ws.edit_case(on_b, case_summary="theirs")
    assert b.sync().ok
    a.ws.edit_case(case_id, case_summary="")
    assert a.sync().conflicts == 1
    code, out = cli(a.tmp / "a", "resolve", case_id, "case_summary", "--mine")
    assert code == 0, out
    report = a.sync()
    assert report.ok and report.parked == 0, report
    assert on_server(a, server_id)["case_summary"] == ""
    assert a.ws.get_case(case_id).sync_state == "synced" and a.ws.conflicts() == []


# ------------------------------------------------------------------ two workstations


def test_a_resend_after_a_failure_reads_again_and_finds_the_other_edit(desks):
    """A's write fails (503) and waits to be sent again; meanwhile B saves the same note.
    A reads the case again before re-sending, so B's note becomes a conflict on A instead of
    being overwritten."""
    a, b = desks
    case_id, on_b, server_id = shared_case(a, b)
    a.ws.edit_case(case_id, case_summary="from A")
    b.ws.edit_case(on_b, case_summary="from B")
    a.server.fail_next(1, status=503, path="/cases/cases/", method="PUT")

    def b_saves_during_the_backoff(_seconds: float) -> None:
        assert b.sync().ok

    engine = a.engine()
    engine.sleep = b_saves_during_the_backoff
    try:
        report = engine.run()
    finally:
        engine.client.close()
    assert report.conflicts == 1 and report.updated == 0
    assert on_server(a, server_id)["case_summary"] == "from B"  # not overwritten
    [conflict] = a.ws.conflicts()
    assert (conflict.base_value, conflict.local_value, conflict.server_value) == (
        "Follow-up", "from A", "from B")


def test_a_write_held_up_in_the_network_reports_what_landed_meanwhile(desks):
    """A reads the case, then its write is held up on the way; B saves the note and the
    status meanwhile. When A's write lands, its answer shows B's status, a value A had not
    seen: A takes it (no loss there) and reports the case as changed meanwhile. B's note was
    replaced by A's, and nothing in the API can show that: the remaining window, as long as
    A's write took to arrive."""
    a, b = desks
    case_id, on_b, server_id = shared_case(a, b)
    a.ws.edit_case(case_id, case_summary="from A")
    b.ws.edit_case(on_b, case_summary="from B", status="processing")
    hold = a.server.hold(path="/cases/cases/", method="PUT")
    result: dict[str, object] = {}
    writer = threading.Thread(target=lambda: result.update(report=a.sync()))
    writer.start()
    try:
        a.server.wait_held(hold)
        assert b.sync().ok  # B's write goes first
        assert on_server(a, server_id)["status"] == "processing"
    finally:
        a.server.release(hold)
        writer.join(30)
    report = result["report"]
    assert report.overlapped == 1 and any(case_id in p for p in report.problems)
    assert a.ws.get_case(case_id).status == "processing"  # B's status, taken from the echo
    assert on_server(a, server_id)["case_summary"] == "from A"  # the window that remains
    assert a.ws.get_case(case_id).sync_state == "synced"
    assert "also changed on the server while being saved here" in sync_summary(report)


def test_an_answer_showing_a_third_value_becomes_a_conflict(desks):
    """The server's answer shows, for a field just sent, a value that is neither what was
    sent nor what was read: another write replaced it at once. That value was never seen
    here, so it is a conflict, and the field stays queued."""
    a, b = desks
    case_id, _, server_id = shared_case(a, b)
    a.ws.edit_case(case_id, case_summary="mine")
    [change] = a.ws.pending()
    read = RemoteCase(server_id, None, "doctor-1", "Jane Smith", 32, "female", "Follow-up",
                      "pending", None, None, raw={})
    raw = {"case_id": server_id, "patient_name": "Jane Smith", "patient_age": 32,
           "case_summary": "someone else", "status": "pending"}
    echo = RemoteCase(server_id, None, "doctor-1", "Jane Smith", 32, "female", "someone else",
                      "pending", None, None, raw=raw)
    engine = a.engine()
    try:
        engine._record_update(change.id, case_id, Written({"case_summary": "mine"}, read, echo))
    finally:
        engine.client.close()
    [conflict] = a.ws.conflicts()
    assert (conflict.field, conflict.local_value, conflict.server_value) == (
        "case_summary", "mine", "someone else")
    assert [p.fields for p in a.ws.pending()] == [("case_summary",)]
    assert a.ws.get_case(case_id).sync_state == "conflict"


def test_update_payload_sends_the_emptied_note_as_an_empty_string(desks):
    a, b = desks
    case_id, _, server_id = shared_case(a, b)
    a.ws.edit_case(case_id, case_summary="")
    a.server.clear_requests()
    assert a.sync().ok
    puts = [r for r in a.server.requests() if r["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["status"] == 200
    assert json.dumps(on_server(a, server_id)["case_summary"]) == '""'


# ------------------------------------------------------------------ files from elsewhere


def detail_reads(h: Harness) -> int:
    return sum(1 for r in h.server.requests()
               if r["method"] == "GET" and r["path"].startswith("/cases/cases/"))


def test_a_file_attached_on_another_workstation_arrives_through_sync(desks):
    """An upload does not change the case's updated_at on the server, so the pull cannot see
    it; B's sync looks at recently active cases in turn and finds the file without anyone
    opening the case."""
    a, b = desks
    case_id, on_b, server_id = shared_case(a, b)
    assert b.ws.documents(on_b) == []
    before = on_server(a, server_id)["updated_at"]
    a.ws.attach(case_id, [a.file("lab.pdf")])
    assert a.sync().ok
    assert on_server(a, server_id)["updated_at"] == before  # nothing else shows it
    assert b.sync().ok
    [doc] = b.ws.documents(on_b)
    assert (doc.name, doc.state) == ("lab.pdf", "remote_only")
    assert b.ws.get_case(on_b).files_checked_at is not None
    code, out = cli(b.tmp / "b", "cases", "show", on_b)
    assert "list checked with the server" in out


def test_file_lists_are_checked_in_turn_within_a_request_budget(desks):
    """Seven active cases, three looks per sync: each sync reads at most three case records,
    and within ceil(7 / 3) = 3 syncs every case's new file has arrived."""
    a, b = desks
    ids = [a.server.create_case("doctor-1", patient_name=f"Case {i}")["case_id"]
           for i in range(7)]
    assert b.sync().ok  # pulled, and their details read once as new cases
    for server_id in ids:
        a.server.add_file(server_id, "report.pdf", b"%PDF-1.4 x", "application/pdf")
    arrived: list[int] = []
    for _ in range(3):
        a.server.clear_requests()
        engine = b.engine()
        engine.watch_limit = 3
        try:
            assert engine.run().ok
        finally:
            engine.client.close()
        assert detail_reads(b) <= 3
        arrived.append(sum(1 for c in b.ws.list_cases() if b.ws.documents(c.id)))
    assert arrived == [3, 6, 7]


def test_cases_with_no_recent_activity_are_not_polled(desks, monkeypatch):
    from desktop.sync import details

    a, b = desks
    shared_case(a, b)
    assert b.sync().ok
    a.server.clear_requests()
    assert b.sync().ok
    assert detail_reads(b) == 1  # active today: looked at in turn
    monkeypatch.setattr(details, "WATCH_DAYS", 0)  # as if its last activity were long ago
    a.server.clear_requests()
    assert b.sync().ok
    assert detail_reads(b) == 0
