"""Named sync scenarios: the real client and engine against the reference server over HTTP."""

from __future__ import annotations

import threading

import filelock
import pytest
from sqlalchemy import select

from desktop.cli import sync_summary
from desktop.models.tables import PendingChange
from desktop.sync import details, registry, runner
from tests import cachefile, samples
from tests.e2e.conftest import PDF

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
       b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


def synced_case(h, name="Jane Smith", summary="Follow-up"):
    case = h.ws.create_case(name, 32, "female", summary)
    report = h.sync()
    assert report.ok, report
    return h.ws.get_case(case.id)


def test_a_follow_up_queued_by_a_create_goes_in_the_same_run(harness):
    """Status is not a create field, so it follows as an update queued while the create is
    cleared; SQLite gives that new row the create's freed id, and the push must still send
    it in this run (it was skipped as 'already tried' until the next one)."""
    h = harness
    h.ws.create_case("Lone Create", 50, "male", "notes", status="processing")
    report = h.sync()
    assert report.ok and (report.created, report.updated) == (1, 1), report
    [remote] = h.server.cases("doctor-1")
    assert remote["status"] == "processing" and h.ws.pending_count() == 0


def test_offline_create_edit_attach_then_sync(harness):
    h = harness
    case = h.ws.create_case("Jane Smith", 32, "female", "Follow-up, diabetes")
    h.ws.edit_case(case.id, case_summary="Follow-up, diabetes; HbA1c due", status="processing")
    h.ws.attach(case.id, [h.file("hba1c.pdf"), h.file("foot.png", PNG)])
    assert h.ws.pending_count() == 3

    report = h.sync()

    assert report.ok and report.created == 1, report
    [remote] = h.server.cases("doctor-1")
    assert remote["patient_name"] == "Jane Smith"
    assert remote["case_summary"] == "Follow-up, diabetes; HbA1c due"
    assert remote["status"] == "processing"  # create has no status field: sent as an update
    files = h.server.files(remote["case_id"])
    assert sorted((f["file_name"], f["file_category"]) for f in files) == [
        ("foot.png", "radiology"), ("hba1c.pdf", "lab")]
    local = h.ws.get_case(case.id)
    assert local.server_id == remote["case_id"] and local.sync_state == "synced"
    assert {d.state for d in h.ws.documents(case.id)} == {"uploaded"}
    assert h.ws.pending_count() == 0
    # A second run sends nothing again.
    h.server.clear_requests()
    assert h.sync().ok
    assert not [r for r in h.server.requests() if r["method"] in ("POST", "PUT")]


def test_attach_after_create_uses_upload_route(harness):
    h = harness
    case = synced_case(h)
    h.ws.attach(case.id, [h.file("later.pdf")])
    report = h.sync()
    assert report.uploaded == 1, report
    assert [f["file_name"] for f in h.server.files(case.server_id)] == ["later.pdf"]
    [doc] = h.ws.documents(case.id)
    assert doc.state == "uploaded" and doc.server_file_id


def test_server_side_edit_is_pulled(harness):
    h = harness
    case = synced_case(h)
    h.server.edit_case(case.server_id, case_summary="Edited at the front desk", status="completed")
    report = h.sync()
    assert report.pulled_changed == 1
    local = h.ws.get_case(case.id)
    assert (local.case_summary, local.status, local.sync_state) == (
        "Edited at the front desk", "completed", "synced")


def test_a_commit_made_while_the_list_is_fetched_is_not_merged_against_an_old_picture(harness):
    """The pull reads what the cache knows while the server answers; a commit landing in that
    window (here: a case's server stamp set back, as another writer might) must be seen: the
    case is merged again and gets the server's stamp, not skipped as unchanged."""
    import time

    h = harness
    case = synced_case(h)
    client = registry.open_client(h.ws)
    fetch = client.list_case_records

    def slow_listing():
        time.sleep(0.3)  # the pull has read its picture of the cache by now
        with h.ws.transaction() as s:
            s.connection().exec_driver_sql(
                "UPDATE cases SET server_updated_at = '2000-01-01T00:00:00Z' WHERE id = ?",
                (case.id,))
        return fetch()

    client.list_case_records = slow_listing
    stamp_before = h.server.case(case.server_id)["case"]["updated_at"]
    report = h.sync(client)
    assert report.ok, report
    with h.ws.sessions() as s:
        stored = s.connection().exec_driver_sql(
            "SELECT server_updated_at FROM cases WHERE id = ?", (case.id,)).scalar()
    assert stored == stamp_before


def test_new_server_case_is_pulled_with_files_and_insights(harness):
    h = harness
    remote = h.server.create_case("doctor-1", patient_name="Ravi Kumar", patient_age=61,
                                  patient_gender="male", case_summary="chest pain")
    h.server.add_file(remote["case_id"], "ecg.pdf", PDF, "application/pdf", "lab")
    h.server.set_insights(remote["case_id"], {"comprehensive_summary": "Likely angina",
                                              "primary_diagnosis": "Stable angina",
                                              "icd_code": "I20.9"})
    h.server.create_case("doctor-2", patient_name="Not Mine", patient_age=5, patient_gender="male")
    report = h.sync()
    assert report.pulled_new == 1
    [case] = h.ws.list_cases()
    assert case.patient_name == "Ravi Kumar" and case.sync_state == "synced"
    assert case.ai_insights["icd_code"] == "I20.9"
    [doc] = h.ws.documents(case.id)
    assert (doc.name, doc.state, doc.sha256) == ("ecg.pdf", "remote_only", None)
    # Download on demand into the blob store.
    engine = h.engine()
    path = details.download(engine, doc.id)
    engine.client.close()
    assert path.read() == PDF
    doc = h.ws.documents(case.id)[0]
    assert doc.state == "downloaded" and doc.sha256 is not None


def test_same_field_both_sides_is_a_conflict_resolved_mine(harness):
    h = harness
    case = synced_case(h)
    h.server.edit_case(case.server_id, case_summary="theirs")
    h.ws.edit_case(case.id, case_summary="mine")
    report = h.sync()
    assert report.conflicts == 1
    assert h.ws.get_case(case.id).case_summary == "mine"  # never silently overwritten
    assert h.ws.get_case(case.id).sync_state == "conflict"
    assert h.server.case(case.server_id)["case"]["case_summary"] == "theirs"
    [c] = h.ws.conflicts()
    assert (c.field, c.base_value, c.local_value, c.server_value) == (
        "case_summary", "Follow-up", "mine", "theirs")
    h.ws.resolve_conflict(case.id, "case_summary", "mine")
    assert h.sync().ok
    assert h.server.case(case.server_id)["case"]["case_summary"] == "mine"
    assert h.ws.get_case(case.id).sync_state == "synced" and h.ws.conflicts() == []


def test_same_field_both_sides_resolved_theirs(harness):
    h = harness
    case = synced_case(h)
    h.server.edit_case(case.server_id, case_summary="theirs")
    h.ws.edit_case(case.id, case_summary="mine")
    h.sync()
    h.ws.resolve_conflict(case.id, "case_summary", "theirs")
    assert h.ws.get_case(case.id).case_summary == "theirs"
    h.server.clear_requests()
    assert h.sync().ok
    assert not [r for r in h.server.requests() if r["method"] == "PUT"]
    assert h.ws.get_case(case.id).sync_state == "synced"


def test_different_fields_merge(harness):
    h = harness
    case = synced_case(h)
    h.server.edit_case(case.server_id, case_summary="server notes")
    h.ws.edit_case(case.id, status="completed")
    report = h.sync()
    assert report.ok and report.conflicts == 0
    local = h.ws.get_case(case.id)
    server = h.server.case(case.server_id)["case"]
    assert (local.case_summary, local.status) == ("server notes", "completed")
    assert (server["case_summary"], server["status"]) == ("server notes", "completed")


def test_edit_made_while_push_in_flight_stays_pending(harness):
    h = harness
    case = synced_case(h)
    h.ws.edit_case(case.id, case_summary="first")
    client = registry.open_client(h.ws)
    original = client.update_case

    def update_while_editing(server_id, changes, numeric_id=None):
        h.ws.edit_case(case.id, case_summary="second")  # lands while the PUT is on the wire
        return original(server_id, changes, numeric_id=numeric_id)

    client.update_case = update_while_editing
    h.sync(client)
    assert h.server.case(case.server_id)["case"]["case_summary"] == "first"
    assert h.ws.get_case(case.id).case_summary == "second"
    assert [(p.kind, p.fields) for p in h.ws.pending()] == [("update_case", ("case_summary",))]
    assert h.sync().ok  # the newer edit goes next time, not lost, not undone by the pull
    assert h.server.case(case.server_id)["case"]["case_summary"] == "second"


def test_500_then_success_with_retry_after(harness):
    h = harness
    case = synced_case(h)
    h.ws.edit_case(case.id, case_summary="after outage")
    h.server.fail_next(2, status=503, retry_after=7, path="/cases/cases/", method="PUT")
    report = h.sync()
    assert report.ok and report.updated == 1, report
    assert h.sleeps[-2:] == [7, 7]  # Retry-After honoured
    assert h.server.case(case.server_id)["case"]["case_summary"] == "after outage"


def test_persistent_5xx_defers_and_keeps_the_queue(harness):
    h = harness
    case = synced_case(h)
    h.ws.edit_case(case.id, case_summary="x")
    h.server.fail_next(10, status=500, path="/cases/cases/", method="PUT")
    report = h.sync()
    assert not report.ok and report.deferred == 1
    [p] = h.ws.pending()
    assert p.state == "queued" and "server" in (p.last_error or "").lower()
    delays = h.sleeps
    assert len(delays) == 3 and all(0 <= d <= 20 for d in delays)


def test_connection_dropped_after_upload_body_gives_one_server_file(harness):
    h = harness
    case = synced_case(h)
    h.ws.attach(case.id, [h.file("mri.pdf")])
    h.server.drop_after_body(1, path="/cases/upload")
    report = h.sync()
    assert report.ok, report
    assert [f["file_name"] for f in h.server.files(case.server_id)] == ["mri.pdf"]
    [doc] = h.ws.documents(case.id)
    assert doc.state == "uploaded"
    assert report.adopted == 1


def test_lost_create_response_gives_one_server_case(harness):
    h = harness
    case = h.ws.create_case("Jane Smith", 32, "female", "notes")
    h.ws.attach(case.id, [h.file("lab.pdf")])
    h.server.drop_after_body(1, path="/cases/create_case")
    report = h.sync()
    assert report.ok, report
    assert len(h.server.cases("doctor-1")) == 1
    server_id = h.ws.get_case(case.id).server_id
    assert [f["file_name"] for f in h.server.files(server_id)] == ["lab.pdf"]
    assert h.ws.pending_count() == 0


def test_500_after_work_on_create_is_reconciled(harness):
    h = harness
    h.ws.create_case("Jane Smith", 32, "female")
    h.server.fail_next(1, status=500, after_work=True, path="/cases/create_case")
    assert h.sync().ok
    assert len(h.server.cases("doctor-1")) == 1


def test_unknown_outcome_left_for_next_run_is_reconciled_not_resent(harness):
    h = harness
    case = h.ws.create_case("Jane Smith", 32, "female")
    h.server.fail_next(1, status=500, after_work=True, path="/cases/create_case")
    h.server.fail_next(20, status=503, path="/cases/all_cases")  # reconcile cannot look yet
    report = h.sync()
    assert not report.ok and report.deferred == 1
    assert len(h.server.cases("doctor-1")) == 1  # the server did store it
    h.server.clear_faults()
    assert h.sync().ok
    assert len(h.server.cases("doctor-1")) == 1  # adopted, not sent again
    assert h.ws.get_case(case.id).server_id == h.server.cases("doctor-1")[0]["case_id"]
    assert h.ws.count_cases() == 1 and h.ws.pending_count() == 0


def test_401_mid_run_keeps_queue(harness):
    h = harness
    a = h.ws.create_case("A Patient", 30, "male")
    b = h.ws.create_case("B Patient", 31, "female")
    h.server.unauthorized_next(1, path="/cases/create_case")
    report = h.sync()
    assert report.auth_required and "sign in" in sync_summary(report).lower()
    assert [p.case_id for p in h.ws.pending()] == [a.id, b.id]
    assert h.server.cases("doctor-1") == []
    assert h.sync().ok and len(h.server.cases("doctor-1")) == 2


def test_422_on_uuid_id_parks_that_change_rest_syncs(harness):
    h = harness
    first = synced_case(h, "First Patient")
    h.server.set_quirks(int_ids=True)
    h.ws.edit_case(first.id, case_summary="needs int id")
    second = h.ws.create_case("Second Patient", 40, "male")
    report = h.sync()
    assert report.parked == 1 and report.created == 1, report
    [parked] = [p for p in h.ws.pending() if p.state == "parked"]
    assert parked.case_id == first.id
    assert "integer" in parked.last_error.lower()
    assert h.ws.get_case(first.id).sync_state == "error"
    assert h.ws.get_case(second.id).server_id is not None


def test_422_quirk_with_numeric_id_retries_once_with_it(harness):
    h = harness
    h.server.set_quirks(numeric_id=True, field_names="deployed")
    case = synced_case(h)
    h.server.set_quirks(int_ids=True)
    h.ws.edit_case(case.id, case_summary="via numeric id")
    report = h.sync()
    assert report.ok and report.updated == 1, report
    assert h.server.case(case.server_id)["case"]["case_summary"] == "via numeric id"


def test_truncated_json_clean_error_nothing_applied(harness):
    h = harness
    case = synced_case(h)
    h.server.edit_case(case.server_id, case_summary="server change")
    h.server.truncate_next(5, path="/cases/all_cases")
    report = h.sync()
    assert not report.ok and report.error and "Traceback" not in report.error
    assert h.ws.get_case(case.id).case_summary == "Follow-up"
    assert h.sync().ok
    assert h.ws.get_case(case.id).case_summary == "server change"


def test_case_removed_on_server_is_marked_while_it_has_work(harness):
    h = harness
    keep = synced_case(h, "Has Work")
    gone = synced_case(h, "No Work")
    h.ws.edit_case(keep.id, case_summary="unsynced")
    h.server.delete_case(keep.server_id)
    h.server.delete_case(gone.server_id)
    h.sync()
    assert h.ws.get_case(keep.id).sync_state == "removed_remotely"
    assert h.ws.get_case(keep.id).case_summary == "unsynced"
    assert [c.id for c in h.ws.list_cases()] == [keep.id]


def test_two_syncs_at_once_second_exits_cleanly_or_waits(harness):
    h = harness
    h.ws.create_case("Jane", 3, "female")
    held, release = threading.Event(), threading.Event()

    def other_sync() -> None:  # stands in for a second process holding the data folder
        with filelock.FileLock(str(h.ws.folder.lock)):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=other_sync)
    holder.start()
    try:
        held.wait(10)
        with pytest.raises(runner.SyncBusyError) as info:
            runner.run_sync(h.ws, wait=0)
        assert info.value.exit_code == 0 and "already running" in str(info.value)
        assert h.server.cases("doctor-1") == []
        threading.Timer(0.3, release.set).start()
        report = runner.run_sync(h.ws, wait=10)
    finally:
        release.set()
        holder.join()
    assert report.ok and len(h.server.cases("doctor-1")) == 1


def test_offline_run_keeps_everything(harness, tmp_path, memory_keyring):
    from desktop.sync import credentials

    h = harness
    h.ws.create_case("Jane", 3, "female")
    credentials.store_secret("http://127.0.0.1:9", "doctor-1", "token-doctor-1")
    with h.ws.transaction() as s:
        from desktop.models.tables import SyncMeta

        s.get(SyncMeta, 1).server_url = "http://127.0.0.1:9"
    report = h.sync()
    assert report.offline and "Offline" in sync_summary(report)
    with h.ws.sessions() as s:
        [change] = s.scalars(select(PendingChange)).all()
        assert change.state == "queued"


def test_parked_change_can_be_fixed_retried_or_discarded(harness):
    h = harness
    case = synced_case(h)
    h.server.set_quirks(int_ids=True)
    h.ws.edit_case(case.id, case_summary="refused")
    h.sync()
    [parked] = h.ws.pending()
    assert parked.state == "parked"
    h.server.set_quirks(int_ids=False)
    h.ws.retry_change(parked.id)
    assert h.ws.pending()[0].state == "queued"
    assert h.sync().ok
    assert h.server.case(case.server_id)["case"]["case_summary"] == "refused"
    # Discard: the local edit gives way to the server's value.
    h.server.set_quirks(int_ids=True)
    h.ws.edit_case(case.id, case_summary="also refused")
    h.sync()
    [parked] = h.ws.pending()
    message = h.ws.discard_change(parked.id)
    assert "server's values" in message
    assert h.ws.get_case(case.id).case_summary == "refused"
    assert h.ws.pending() == [] and h.ws.get_case(case.id).sync_state == "synced"


def test_manual_sync_retries_postponed_changes_periodic_waits(harness):
    h = harness
    case = synced_case(h)
    h.ws.edit_case(case.id, case_summary="x")
    h.server.fail_next(4, status=500, path="/cases/cases/", method="PUT")
    assert h.sync().deferred == 1
    periodic = h.engine()
    periodic.honour_schedule = True
    assert periodic.run().updated == 0  # postponed: not due yet
    periodic.client.close()
    manual = h.engine()
    manual.honour_schedule = False
    assert manual.run().updated == 1
    manual.client.close()


def test_one_refused_file_does_not_keep_a_new_case_off_the_server(harness):
    h = harness
    case = h.ws.create_case("Jane Smith", 32, "female")
    h.ws.attach(case.id, [h.file("ok.pdf"), h.file("scan.png", PNG)])
    # The server refuses the combined create (say, a file it will not take) once.
    h.server.fail_next(1, status=400, path="/cases/create_case")
    report = h.sync()
    assert report.created == 1, report
    server_id = h.ws.get_case(case.id).server_id
    assert server_id is not None
    assert sorted(f["file_name"] for f in h.server.files(server_id)) == ["ok.pdf", "scan.png"]
    assert h.ws.pending_count() == 0


def test_first_sync_of_many_cases_is_searchable(harness):
    from desktop.workspace import CaseQuery

    h = harness
    h.server.seed_cases("doctor-1", 450)
    h.server.create_case("doctor-1", patient_name="Findable Quokka", patient_age=9,
                         patient_gender="female", case_summary="wombat clinic")
    report = h.sync()
    assert report.pulled_new == 451
    assert [c.patient_name for c in h.ws.list_cases(CaseQuery(search="quokka"))] == [
        "Findable Quokka"]
    assert h.ws.count_cases(CaseQuery(search="wombat")) == 1
    # The index is still maintained row by row afterwards (the trigger is back).
    case = h.ws.create_case("Later Pelican", 3, "male")
    assert [c.id for c in h.ws.list_cases(CaseQuery(search="pelican"))] == [case.id]


def test_many_server_edits_merge_in_one_batch_beside_cases_with_local_work(harness):
    """Enough server edits for the batched write (the search index follows in bulk), mixed
    with cases that hold local work and must take the full three-way merge."""
    from desktop.models.search import UPDATE_BATCH_THRESHOLD
    from desktop.workspace import CaseQuery

    h = harness
    count = UPDATE_BATCH_THRESHOLD + 8
    server_ids = h.server.seed_cases("doctor-1", count)
    assert h.sync().pulled_new == count
    local = {c.server_id: c for c in h.ws.list_cases(CaseQuery())}
    merged, clashing = local[server_ids[0]], local[server_ids[1]]
    h.ws.edit_case(merged.id, status="completed")  # a different field: merges
    h.ws.edit_case(clashing.id, case_summary="my own note")  # the same field: a conflict
    for n, server_id in enumerate(server_ids):
        h.server.edit_case(server_id, case_summary=f"heron visit {n}")

    report = h.sync()

    assert report.ok, report
    # Every server edit counts once: the two held cases were merged by the push (each update
    # reads the server's case first), the rest by the pull.
    assert (report.pulled_changed, report.conflicts) == (count, 1)
    for n, server_id in enumerate(server_ids[2:], start=2):
        case = h.ws.get_case(local[server_id].id)
        assert (case.case_summary, case.sync_state) == (f"heron visit {n}", "synced")
    assert h.ws.get_case(merged.id).case_summary == "heron visit 0"
    assert h.server.case(server_ids[0])["case"]["status"] == "completed"
    assert h.ws.get_case(clashing.id).case_summary == "my own note"
    assert [c.field for c in h.ws.conflicts()] == ["case_summary"]
    # The search index holds the new notes, not the old ones, and is kept row by row again.
    assert h.ws.count_cases(CaseQuery(search="heron visit")) == count - 1
    assert h.ws.count_cases(CaseQuery(search="Seeded case")) == 0
    assert h.ws.count_cases(CaseQuery(search="own note")) == 1
    h.ws.edit_case(local[server_ids[5]].id, case_summary="egret")
    assert [c.id for c in h.ws.list_cases(CaseQuery(search="egret"))] == [local[server_ids[5]].id]
    # A second run finds nothing new: every pulled stamp and base was stored.
    again = h.sync()
    assert (again.pulled_changed, again.conflicts) == (0, 0)


def test_a_pull_where_more_cases_changed_than_sqlite_takes_values_in_one_statement(harness):
    """SQLite refuses a statement with more values than its limit: 32,766 in the builds
    Python ships on Windows and macOS (the SQLCipher build allows more, and has no way to
    lower it, so a statement with more than the older default of 999 is refused here as
    SQLite would). A pull whose changed cases outnumber it (a server migration touching every
    case) must still merge them all."""
    from sqlalchemy import event

    from desktop.workspace import CaseQuery

    h = harness
    count = 1_200
    h.server.seed_cases("doctor-1", count)
    assert h.sync().pulled_new == count

    widest = [0]

    @event.listens_for(h.ws.engine, "before_cursor_execute")
    def _lower_the_limit(_conn, _cursor, _statement, parameters, _context, executemany):
        rows = parameters if executemany else [parameters]
        for row in rows or []:
            widest[0] = max(widest[0], len(row or ()))
            if len(row or ()) > 999:
                raise cachefile.OperationalError("too many SQL variables")

    # 1,000 cases hold a local edit (postponed, so this run's push leaves them): they take the
    # ORM merge; the other 200 the grouped one.
    held = h.ws.case_ids(CaseQuery())[:1000]
    for case_id in held:
        h.ws.edit_case(case_id, status="completed")
    with h.ws.transaction() as s:  # as if the server had changed every case since
        s.connection().exec_driver_sql(
            "UPDATE pending_changes SET next_attempt_at = '2999-01-01 00:00:00'")
        s.connection().exec_driver_sql(
            "UPDATE cases SET server_updated_at = '2000-01-01T00:00:00Z', "
            "patient_gender = 'unknown', base = json_set(base, '$.patient_gender', 'unknown')")
    report = h.sync()
    assert report.ok, report
    assert report.pulled_changed == count
    with h.ws.sessions() as s:
        assert s.connection().exec_driver_sql(
            "SELECT count(*) FROM cases WHERE patient_gender = 'unknown' "
            "OR server_updated_at = '2000-01-01T00:00:00Z'").scalar() == 0
    assert {h.ws.get_case(i).status for i in held} == {"completed"}
    assert h.ws.pending_count() == len(held)
    assert 0 < widest[0] <= 999  # the pull really was held to the limit


def test_cancel_stops_mid_upload_and_the_next_run_sends_it_once(harness):

    h = harness
    case = synced_case(h)
    big = h.file("large-scan.pdf", samples.big_pdf(8 * 1024 * 1024))
    h.ws.attach(case.id, [big])
    seen: list[int] = []
    engine = h.engine()
    report = engine.run(
        progress=lambda p: seen.append(p.bytes_done) if p.phase == "upload" else None,
        cancelled=lambda: bool(seen),
    )
    engine.client.close()
    assert report.cancelled and not report.ok
    [doc] = h.ws.documents(case.id)
    assert doc.state == "local_only"
    assert h.server.files(case.server_id) == []
    assert h.sync().ok
    assert [f["file_name"] for f in h.server.files(case.server_id)] == ["large-scan.pdf"]


def test_mass_disappearance_keeps_every_case(harness):
    """A server that suddenly lists none of our cases (wrong account, server fault) must not
    make this computer delete its copies; when they are listed again, they are back to normal."""
    h = harness
    for i in range(12):
        h.ws.create_case(f"Patient {i}", 30 + i, "female")
    assert h.sync().ok
    ids = [c["case_id"] for c in h.server.cases("doctor-1")]
    for case_id in ids:  # the server misfiles them under another doctor
        h.server.edit_case(case_id, user_id="doctor-2")
    report = h.sync()
    assert not report.ok and (report.vanished, report.known) == (12, 12)
    assert "no longer lists 12 of your 12" in sync_summary(report)
    cases = h.ws.list_cases()
    assert len(cases) == 12 and {c.sync_state for c in cases} == {"removed_remotely"}
    for case_id in ids:
        h.server.edit_case(case_id, user_id="doctor-1")
    assert h.sync().ok
    assert {c.sync_state for c in h.ws.list_cases()} == {"synced"}
