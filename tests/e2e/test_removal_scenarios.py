"""Removing documents, moving them between cases, deleting cases and asking for analyses,
end to end over real HTTP against the reference server: exactly once, whatever is lost on the
way, and never a silent loss of either side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop.sync import runner
from desktop.workspace import DELETION, Workspace
from tests import samples
from tests.signin import sign_in

ROOT = Path(__file__).resolve().parents[2]
DELETE_FILE = "/cases/file/"


def synced_case(h, name="Maria Lopez", files=("lab.pdf",)):
    case = h.ws.create_case(name, 46, "female", "Follow-up")
    if files:
        h.ws.attach(case.id, [h.file(name_, samples.pdf(name_)) for name_ in files])
    report = h.sync()
    assert report.ok, report
    return h.ws.get_case(case.id)


def deletes(h, path=DELETE_FILE):
    return [r for r in h.server.requests() if r["method"] == "DELETE" and path in r["path"]]


# ------------------------------------------------------------------ documents


def test_a_removed_document_is_deleted_on_the_server_once(harness):
    h = harness
    case = synced_case(h, files=("lab.pdf", "other.pdf"))
    doc = next(d for d in h.ws.documents(case.id) if d.name == "lab.pdf")
    h.server.clear_requests()
    h.ws.remove_document(doc.id)
    report = h.sync()
    assert report.ok and report.removed == 1, report
    assert [f["file_name"] for f in h.server.files(case.server_id)] == ["other.pdf"]
    assert [d.name for d in h.ws.documents(case.id)] == ["other.pdf"]
    assert h.ws.pending() == [] and h.ws.get_case(case.id).sync_state == "synced"
    assert len(deletes(h)) == 1
    report = h.sync()  # nothing more is sent, and the file list does not bring it back
    assert len(deletes(h)) == 1 and [d.name for d in h.ws.documents(case.id)] == ["other.pdf"]
    assert h.ws.collect_garbage().blobs == 1  # its stored file went with it


def test_a_waiting_removal_is_not_undone_by_a_pull(harness):
    h = harness
    case = synced_case(h)
    [doc] = h.ws.documents(case.id)
    h.ws.remove_document(doc.id)
    h.server.fail_next(4, status=503, path=DELETE_FILE, method="DELETE")  # this run's tries
    report = h.sync()  # the removal waits; the pull and the file refresh still run
    assert report.deferred == 1
    engine = h.engine()
    try:
        from desktop.sync import details

        details.refresh_case(engine, case.id)  # the server still lists the file
    finally:
        engine.client.close()
    assert h.ws.documents(case.id) == []
    assert [p.kind for p in h.ws.pending()] == ["remove_document"]
    [change] = h.ws.pending()
    h.ws.retry_change(change.id)
    report = h.sync()
    assert report.ok and report.removed == 1 and h.server.files(case.server_id) == []


def test_a_lost_answer_to_a_delete_is_sent_again_and_404_counts_as_done(harness):
    h = harness
    case = synced_case(h)
    [doc] = h.ws.documents(case.id)
    h.ws.remove_document(doc.id)
    h.server.clear_requests()
    h.server.drop_after_body(1, path=DELETE_FILE, method="DELETE")  # done, then no answer
    report = h.sync()
    assert report.ok and report.removed == 1 and report.parked == 0, report
    assert [r["status"] for r in deletes(h)] == [None, 404]
    assert h.server.files(case.server_id) == [] and h.ws.pending() == []


def test_a_delete_re_sent_in_a_later_run_after_the_server_did_it(harness):
    h = harness
    case = synced_case(h)
    [doc] = h.ws.documents(case.id)
    h.ws.remove_document(doc.id)
    h.server.clear_requests()
    h.server.drop_after_body(4, path=DELETE_FILE, method="DELETE")  # every try this run
    report = h.sync()
    assert report.deferred == 1 and h.server.files(case.server_id) == []
    [change] = h.ws.pending()
    assert change.kind == "remove_document" and change.state == "queued"
    with pytest.raises(Exception, match="can no longer be undone"):
        h.ws.restore_document(doc.id)  # it may have reached the server: no undo
    h.ws.retry_change(change.id)  # a person asks to sync it now
    report = h.sync()
    assert report.ok and report.removed == 1 and report.parked == 0, report
    assert deletes(h)[-1]["status"] == 404 and h.ws.pending() == []


def test_a_move_puts_the_file_on_the_target_before_it_leaves_the_source(harness):
    h = harness
    source = synced_case(h, "Maria Lopez")
    target = synced_case(h, "Mario Lopez", files=())
    [doc] = h.ws.documents(source.id)
    h.server.clear_requests()
    h.ws.move_document(doc.id, target.id)
    report = h.sync()
    assert report.ok and (report.uploaded, report.removed) == (1, 1), report
    assert h.server.files(source.server_id) == []
    assert [f["file_name"] for f in h.server.files(target.server_id)] == ["lab.pdf"]
    order = [(r["method"], r["path"]) for r in h.server.requests()
             if r["method"] in ("POST", "DELETE")]
    assert order[0] == ("POST", "/cases/upload") and order[1][0] == "DELETE"
    assert h.ws.documents(source.id) == []
    assert [d.state for d in h.ws.documents(target.id)] == ["uploaded"]


def test_a_move_waits_while_its_copy_is_refused(harness):
    h = harness
    source = synced_case(h, "Maria Lopez")
    target = synced_case(h, "Mario Lopez", files=())
    [doc] = h.ws.documents(source.id)
    h.ws.move_document(doc.id, target.id)
    h.server.fail_next(1, status=422, path="/cases/upload")
    report = h.sync()
    assert report.parked == 1 and report.removed == 0, report
    assert [f["file_name"] for f in h.server.files(source.server_id)] == ["lab.pdf"]
    [upload] = [p for p in h.ws.pending() if p.kind == "upload_document"]
    h.ws.discard_change(upload.id)  # the copy is given up: the original stays
    report = h.sync()
    assert report.ok and report.removed == 0
    assert [d.name for d in h.ws.documents(source.id)] == ["lab.pdf"]
    assert [f["file_name"] for f in h.server.files(source.server_id)] == ["lab.pdf"]


KILL_POINTS = {
    # The copy stored on the target, the answer never read.
    "upload answered late": dict(delay=("/cases/upload", "POST")),
    # The copy recorded here; the delete held at the server, then refused (never done).
    "before the delete": dict(hold=(DELETE_FILE, "DELETE"), refuse=True),
    # The delete done by the server; the client gone before the answer.
    "delete answered late": dict(hold=(DELETE_FILE, "DELETE"), refuse=False),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_move_killed_at_any_point_ends_with_one_copy_on_the_target(
    reference_server, memory_keyring, tmp_path, point
):
    data = tmp_path / "d"
    with Workspace.open(data) as ws:
        sign_in(ws, reference_server.url)
        source = ws.create_case("Maria Lopez", 46, "female")
        target = ws.create_case("Mario Lopez", 50, "male")
        lab = tmp_path / "lab.pdf"
        lab.write_bytes(samples.PDF)
        ws.attach(source.id, [lab])
        assert runner.run_sync(ws).ok
        source_id, target_id = (ws.get_case(c.id).server_id for c in (source, target))
        [doc] = ws.documents(source.id)
        ws.move_document(doc.id, target.id)
    plan = KILL_POINTS[point]
    hold = None
    if "delay" in plan:
        path, method = plan["delay"]
        reference_server.delay(60, path=path, method=method, after_work=True)
    else:
        path, method = plan["hold"]
        hold = reference_server.hold(path=path, method=method)
        if plan["refuse"]:
            reference_server.fail_next(1, status=503, path=path, method=method)
    # The child shares the test's keychain (the folder's key is there); the token comes
    # from the environment.
    env = dict(os.environ, CASEDESK_TOKEN="token-doctor-1")
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "--data-dir", str(data), "sync"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        if hold is not None:
            reference_server.wait_held(hold, timeout=60)
        else:
            while not reference_server.files(target_id):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)  # kill -9
        proc.wait()
    if hold is not None:
        reference_server.release(hold)
        time.sleep(0.3)  # the held request goes on (done or refused) with nobody listening
    reference_server.clear_faults()
    with Workspace.open(data) as ws:
        for _ in range(2):
            report = runner.run_sync(ws)
            assert report.ok, report
        assert ws.pending() == []
        assert ws.documents(source.id) == []
        [moved] = ws.documents(target.id)
        assert moved.state == "uploaded" and moved.name == "lab.pdf"
    assert reference_server.files(source_id) == []
    assert [f["file_name"] for f in reference_server.files(target_id)] == ["lab.pdf"]


def test_the_int_id_backend_deletes_and_analyses_through_the_numeric_id(harness):
    """The deployed backend declares ``case_id: int`` on these routes: 422 to a UUID, then
    one retry with the case's numeric id."""
    h = harness
    h.server.set_quirks(numeric_id=True)
    case = synced_case(h, files=("lab.pdf", "other.pdf"))
    h.server.set_quirks(int_ids=True)
    h.server.set_analysis(step_seconds=None)
    doc = next(d for d in h.ws.documents(case.id) if d.name == "lab.pdf")
    h.ws.remove_document(doc.id)
    h.ws.request_analysis(case.id)
    report = h.sync()
    assert report.ok and (report.removed, report.analyses) == (1, 1), report
    assert [f["file_name"] for f in h.server.files(case.server_id)] == ["other.pdf"]
    assert h.server.case(case.server_id)["case"]["status"] == "processing"
    statuses = [r["status"] for r in h.server.requests() if r["method"] in ("DELETE", "POST")
                and "/analyze/" in r["path"] or r["method"] == "DELETE"]
    assert statuses.count(422) == 2 and statuses.count(200) == 2
    h.ws.delete_case(case.id)
    report = h.sync()
    assert report.ok and report.deleted == 1, report
    assert h.server.cases("doctor-1") == []


# ------------------------------------------------------------------ cases


def test_a_deleted_case_is_deleted_on_the_server_and_can_be_restored_before(harness):
    h = harness
    case = synced_case(h)
    deletion = h.ws.delete_case(case.id)
    assert deletion.waits_for_server and deletion.documents == 1
    h.ws.restore_case(case.id)
    assert h.sync().ok and len(h.server.cases("doctor-1")) == 1
    h.ws.delete_case(case.id)
    h.server.clear_requests()
    h.server.drop_after_body(1, path="/cases/cases/", method="DELETE")
    report = h.sync()
    assert report.ok and report.deleted == 1, report
    assert [r["status"] for r in deletes(h, "/cases/cases/")] == [None, 404]
    assert h.server.cases("doctor-1") == [] and h.ws.pending() == []
    assert h.ws.deleted_cases() == [] and h.ws.count_cases() == 0
    assert h.sync().pulled_new == 0  # it does not come back


def test_deleted_here_while_edited_on_the_server_is_a_conflict(harness):
    h = harness
    case = synced_case(h)
    h.ws.delete_case(case.id)
    h.server.edit_case(case.server_id, case_summary="New results from the lab")
    report = h.sync()
    assert report.conflicts == 1 and report.deleted == 0, report
    assert len(h.server.cases("doctor-1")) == 1  # nothing deleted
    [conflict] = h.ws.conflicts()
    assert conflict.field == DELETION and conflict.local_value == {"deleted": True}
    assert conflict.server_value["case_summary"] == "New results from the lab"
    assert conflict.server_value["changed_fields"] == ["case_summary"]
    # Take theirs: the case stays, with the server's change.
    record = h.ws.resolve_conflict(case.id, DELETION, "theirs")
    assert record.removed_at is None
    assert h.sync().ok
    assert h.ws.get_case(case.id).case_summary == "New results from the lab"
    assert len(h.server.cases("doctor-1")) == 1


def test_deleted_here_while_a_file_was_added_there_then_deleted_anyway(harness):
    h = harness
    case = synced_case(h)
    h.ws.delete_case(case.id)
    h.server.add_file(case.server_id, "from-elsewhere.pdf", samples.PDF, "application/pdf")
    report = h.sync()
    assert report.conflicts == 1 and report.deleted == 0, report
    [conflict] = h.ws.conflicts()
    assert conflict.server_value["new_files"] == ["from-elsewhere.pdf"]
    h.ws.resolve_conflict(case.id, DELETION, "mine")  # delete it all the same
    report = h.sync()
    assert report.ok and report.deleted == 1, report
    assert h.server.cases("doctor-1") == [] and h.ws.conflicts() == []


def test_edited_here_while_deleted_on_the_server_is_a_conflict(harness):
    h = harness
    case = synced_case(h)
    h.ws.edit_case(case.id, case_summary="Mine, unsent")
    h.server.delete_case(case.server_id)
    report = h.sync()
    assert report.conflicts == 1, report
    [conflict] = h.ws.conflicts()
    assert conflict.field == DELETION and conflict.server_value == {"deleted": True}
    assert conflict.local_value["case_summary"] == "Mine, unsent"
    assert h.ws.get_case(case.id).case_summary == "Mine, unsent"  # nothing lost here
    # Keep mine: it goes back to the server, with its document.
    h.ws.resolve_conflict(case.id, DELETION, "mine")
    report = h.sync()
    assert report.ok and report.created == 1, report
    [remote] = h.server.cases("doctor-1")
    assert remote["case_summary"] == "Mine, unsent"
    assert [f["file_name"] for f in h.server.files(remote["case_id"])] == ["lab.pdf"]


def test_edited_here_while_deleted_on_the_server_then_taken_theirs(harness):
    h = harness
    case = synced_case(h)
    h.ws.edit_case(case.id, case_summary="Mine, unsent")
    h.server.delete_case(case.server_id)
    h.sync()
    h.ws.resolve_conflict(case.id, DELETION, "theirs")
    assert h.ws.count_cases() == 0 and h.ws.pending() == []
    assert h.sync().ok and h.server.cases("doctor-1") == []


# ------------------------------------------------------------------ analyses


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_an_analysis_moves_to_its_end_and_brings_insights(harness, outcome):
    h = harness
    h.server.set_analysis(outcome=outcome, step_seconds=None)
    case = synced_case(h)
    h.ws.request_analysis(case.id)
    assert h.ws.get_case(case.id).analysis == "requested"
    report = h.sync()
    assert report.ok and report.analyses == 1, report
    assert h.ws.get_case(case.id).analysis == "processing"
    h.server.advance_analysis(case.server_id)
    runner.refresh_analysis(h.ws, case.id)
    assert h.ws.get_case(case.id).analysis == "analyzing"
    h.server.advance_analysis(case.server_id)
    runner.refresh_analysis(h.ws, case.id)
    record = h.ws.get_case(case.id)
    assert record.status == outcome and record.sync_state == "synced"
    assert (record.ai_insights is not None) == (outcome == "completed")
    assert record.analysis_requested_at is not None  # until the person has been told
    assert h.ws.analysis_noted(case.id).analysis_requested_at is None
    assert h.sync().ok and h.ws.pending() == []


def test_a_lost_answer_to_an_analysis_request_is_not_sent_twice(harness):
    h = harness
    h.server.set_analysis(step_seconds=None)
    case = synced_case(h)
    h.ws.request_analysis(case.id)
    h.server.clear_requests()
    h.server.drop_after_body(4, path="/cases/analyze/", method="POST")
    report = h.sync()
    assert report.ok and report.analyses == 1, report
    posts = [r for r in h.server.requests() if "/analyze/" in r["path"]]
    assert len(posts) == 1  # the case read after the lost answer shows it under way
    assert h.ws.get_case(case.id).status == "processing"


def test_a_care360_profile_keeps_removals_queued_and_says_so(reference_server, memory_keyring,
                                                              tmp_path):
    from desktop.cli import sync_summary
    from desktop.sync.care360.engine import Care360Engine
    from desktop.sync.report import SyncReport

    with Workspace.open(tmp_path / "d") as ws:
        case = ws.create_case("Maria Lopez", 46, "female")
        lab = tmp_path / "lab.pdf"
        lab.write_bytes(samples.PDF)
        [result] = ws.attach(case.id, [lab])
        with ws.transaction() as s:  # as if Care360 had taken it
            s.connection().exec_driver_sql(
                "UPDATE documents SET state='uploaded', server_file_id='f1'")
            s.connection().exec_driver_sql(
                "DELETE FROM pending_changes WHERE kind='upload_document'")
        ws.remove_document(result.document.id)
        ws.request_analysis(case.id)
        engine = Care360Engine(ws, client=None)
        report = SyncReport(server="Care360", files_only=True)
        engine.report = report
        assert engine._kept_here() == 2  # the create and the analysis
        assert report.document_removals_kept == 1
        report.case_changes_kept = 2
        line = sync_summary(report)
        assert "1 document removal(s) stay on this computer" in line
        assert [p.state for p in ws.pending()] == ["queued", "queued", "queued"]


def test_a_waiting_case_deletion_is_not_undone_by_a_pull(harness):
    h = harness
    case = synced_case(h)
    h.ws.delete_case(case.id)
    h.server.fail_next(4, status=503, path="/cases/cases/", method="DELETE")  # this run's tries
    report = h.sync()  # the deletion waits; the pull still reads the server's list
    assert report.deferred == 1 and report.pulled_new == 0, report
    assert len(h.server.cases("doctor-1")) == 1  # still there
    assert h.ws.count_cases() == 0 and h.ws.list_cases() == []  # and not back here
    assert h.ws.get_case(case.id).removed_at is not None  # restorable until it is sent
    [change] = h.ws.pending()
    h.ws.retry_change(change.id)
    report = h.sync()
    assert report.ok and report.deleted == 1 and h.server.cases("doctor-1") == []
