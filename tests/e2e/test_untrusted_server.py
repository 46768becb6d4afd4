"""What a server sends is checked before it is used: a long Retry-After schedules instead of
sleeping, an unreadable record is set aside with its reason (a known case keeps its copy and
shows why), downloads are checked like intake, and equal bytes make two documents."""

from __future__ import annotations

import json
from datetime import timedelta

from desktop.cli import sync_summary
from desktop.models.tables import PendingChange, utcnow
from desktop.sync import details, runner
from desktop.sync import errors as err
from tests.e2e.conftest import PDF

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
       b"\x00\x00\x00IEND\xaeB`\x82")


def synced_case(h, name="Jane Smith"):
    case = h.ws.create_case(name, 32, "female", "Follow-up")
    assert h.sync().ok
    return h.ws.get_case(case.id)


def test_long_retry_after_defers_the_change_to_that_time(harness):
    h = harness
    case = synced_case(h)
    h.ws.edit_case(case.id, case_summary="edited here")
    h.server.fail_next(5, status=503, retry_after=3600, path="/cases/cases/", method="PUT")
    h.server.clear_requests()
    report = h.sync()
    assert h.sleeps == [] or max(h.sleeps) <= 10  # never asleep for the server's hour
    puts = [r for r in h.server.requests() if r["method"] == "PUT"]
    assert len(puts) == 1
    assert report.deferred == 1 and report.retry_after == 3600
    with h.ws.sessions() as s:
        [change] = s.query(PendingChange).all()
        assert change.next_attempt_at >= utcnow() + timedelta(seconds=3590)
    assert "asked to be left alone for 60 min" in sync_summary(report)


def test_watch_waits_as_long_as_the_server_asked(harness):
    h = harness
    synced_case(h)
    h.server.fail_next(5, status=503, retry_after=1800, path="/cases/all_cases")
    reports, slept = [], []
    runner.watch(h.ws, interval=60, on_report=reports.append,
                 should_stop=lambda: len(reports) >= 1 and sum(slept) >= 1800 or len(reports) > 1,
                 sleep=slept.append)
    assert reports[0].retry_after == 1800
    assert sum(slept) >= 1800


def test_an_unreadable_new_record_is_set_aside_and_the_rest_pulled(harness):
    h = harness
    synced_case(h)
    other = h.server.create_case("doctor-1", patient_name="Other", patient_age=40,
                                 patient_gender="male")
    h.server.hostile("record", path="/cases/all_cases", record="age_huge")
    report = h.sync()
    assert report.ok and report.set_aside == 1 and report.pulled_new == 1
    assert report.set_aside_reasons == ["case record: its patient age is out of range (0 to 150)"]
    assert any(c.server_id == other["case_id"] for c in h.ws.list_cases())
    assert not any(c.patient_name == "Hostile Age" for c in h.ws.list_cases())


def test_changed_record_of_a_known_case_set_aside_marks_that_case(harness):
    """The record of a case already here becomes unreadable: its local copy stays as it was,
    and the list's sync column says why; once the server's record is readable again the
    case is merged and synced."""
    h = harness
    case = synced_case(h)
    h.server.edit_case(case.server_id, case_summary="changed there")
    h.server.hostile("record", path="/cases/all_cases", n=1, text=json.dumps(
        {"case_id": case.server_id, "patient_name": "Jane Smith", "patient_age": 1e300,
         "updated_at": "2099-01-01T00:00:00Z"}))
    report = h.sync()
    assert report.ok and report.set_aside == 1
    local = h.ws.get_case(case.id)
    assert local.case_summary == "Follow-up" and local.sync_state == "error"
    assert "could not be read (its patient age is out of range" in local.sync_error
    report = h.sync()  # the server's record is readable again
    local = h.ws.get_case(case.id)
    assert (local.case_summary, local.sync_state, local.sync_error) == (
        "changed there", "synced", None)


def test_bad_file_records_leave_the_good_ones_listed(harness):
    h = harness
    case = synced_case(h)
    h.server.add_file(case.server_id, "ok.pdf", PDF, "application/pdf")
    h.server.edit_case(case.server_id, status="completed")
    h.server.hostile("record", path="/cases/cases/", record="file_url_bad")
    report = h.sync()
    assert report.ok and report.set_aside == 1
    assert report.set_aside_reasons == ["file record: its download address is not a web address"]
    assert [d.name for d in h.ws.documents(case.id)] == ["ok.pdf"]


def test_download_records_sha256_and_the_sniffed_type(harness):
    h = harness
    case = synced_case(h)
    h.server.add_file(case.server_id, "scan.pdf", PNG, "application/pdf")  # mislabelled
    h.server.edit_case(case.server_id, status="completed")
    h.sync()
    [doc] = h.ws.documents(case.id)
    engine = h.engine()
    try:
        path = details.download(engine, doc.id)
    finally:
        engine.client.close()
    [doc] = h.ws.documents(case.id)
    import hashlib

    assert doc.sha256 == hashlib.sha256(PNG).hexdigest() and path.read() == PNG
    assert doc.mime_type == "image/png" and doc.state == "downloaded"


def test_equal_bytes_on_two_server_files_are_two_documents_that_both_open(harness):
    h = harness
    case = synced_case(h)
    h.server.add_file(case.server_id, "first.pdf", PDF, "application/pdf")
    h.server.add_file(case.server_id, "copy.pdf", PDF, "application/pdf")
    h.server.edit_case(case.server_id, status="completed")
    h.sync()
    docs = h.ws.documents(case.id)
    assert sorted(d.name for d in docs) == ["copy.pdf", "first.pdf"]
    engine = h.engine()
    try:
        for doc in docs:
            assert details.download(engine, doc.id).read() == PDF
    finally:
        engine.client.close()
    docs = h.ws.documents(case.id)
    assert all(d.state == "downloaded" and d.sha256 for d in docs)
    assert all(h.ws.stored_bytes(d) is not None for d in docs)


def test_a_download_shorter_than_declared_is_not_kept(harness):
    h = harness
    case = synced_case(h)
    h.server.add_file(case.server_id, "lab.pdf", PDF, "application/pdf")
    h.server.edit_case(case.server_id, status="completed")
    h.sync()
    [doc] = h.ws.documents(case.id)
    with h.ws.transaction() as s:  # as if the server had declared more than it sends
        s.connection().exec_driver_sql("UPDATE documents SET size = size + 10")
    engine = h.engine()
    try:
        try:
            details.download(engine, doc.id)
            raise AssertionError("a short download was kept")
        except err.DownloadRefused as exc:
            assert "declared" in str(exc)
    finally:
        engine.client.close()
    [doc] = h.ws.documents(case.id)
    assert doc.state == "remote_only" and doc.sha256 is None and "declared" in doc.error
    kept = [p for p in h.ws.folder.blobs.rglob("*") if p.is_file()]
    assert [p.name for p in kept] in ([], [".intake.lock"])  # no bytes, no temp file
