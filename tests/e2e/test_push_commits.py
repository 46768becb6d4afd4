"""What one queued change costs the cache on its way to the server: the commits that keep it
exactly-once and no more (each is an fsync with synchronous=FULL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from desktop.models.tables import ChangeKind, PendingChange
from desktop.sync.medmitra.engine import MedMitraEngine
from tests import cachefile
from tests.e2e.conftest import Harness


def _queued(h: Harness, kind: ChangeKind) -> int:
    with h.ws.sessions() as s:
        return int(s.scalar(select(PendingChange.id).where(PendingChange.kind == kind)))


def _in_flight_on_disk(h: Harness, change_id: int) -> bool:
    """Read from another connection: only what was committed."""
    with cachefile.connect(h.ws.folder.cache) as conn:
        row = conn.execute("SELECT in_flight FROM pending_changes WHERE id = ?",
                           (change_id,)).fetchone()
    return bool(row and row[0])


def test_an_update_goes_with_two_commits_and_is_marked_before_it_leaves(harness: Harness):
    case = harness.ws.create_case("Jane Smith", 32, "female", "first note")
    assert harness.sync().ok
    harness.ws.edit_case(case.id, case_summary="second note")
    change_id = _queued(harness, ChangeKind.UPDATE_CASE)

    engine = harness.engine()
    commits: list[str] = []
    marked_when_sent: list[bool] = []

    def counted(_conn: object) -> None:
        commits.append("commit")

    event.listen(harness.ws.engine, "commit", counted)
    send = engine.client.update_case

    def update_case(*args: Any, **kwargs: Any) -> Any:
        marked_when_sent.append(_in_flight_on_disk(harness, change_id))
        return send(*args, **kwargs)

    engine.client.update_case = update_case  # type: ignore[method-assign]
    try:
        engine.senders()[ChangeKind.UPDATE_CASE](change_id)
    finally:
        event.remove(harness.ws.engine, "commit", counted)
        engine.client.close()
    # The read merged, the values and the in-flight mark: one commit before the write leaves;
    # the server's answer: one commit. (Three before: the merge committed on its own.)
    assert marked_when_sent == [True]
    assert len(commits) == 2
    assert harness.server.cases("doctor-1")[0]["case_summary"] == "second note"
    with harness.ws.sessions() as s:
        assert s.get(PendingChange, change_id) is None


def test_a_create_and_an_upload_are_marked_in_flight_before_they_leave(harness: Harness):
    case = harness.ws.create_case("Jane Smith", 32, "female", "note")
    change_id = _queued(harness, ChangeKind.CREATE_CASE)
    engine = harness.engine()
    marked: list[bool] = []
    create = engine.client.create_case

    def create_case(*args: Any, **kwargs: Any) -> Any:
        marked.append(_in_flight_on_disk(harness, change_id))
        return create(*args, **kwargs)

    engine.client.create_case = create_case  # type: ignore[method-assign]
    try:
        engine.senders()[ChangeKind.CREATE_CASE](change_id)
    finally:
        engine.client.close()
    assert marked == [True]

    harness.ws.attach(case.id, [harness.file("lab.pdf")], category="lab")
    upload_id = _queued(harness, ChangeKind.UPLOAD_DOCUMENT)
    engine = harness.engine()
    upload = engine.client.upload_file

    def upload_file(*args: Any, **kwargs: Any) -> Any:
        marked.append(_in_flight_on_disk(harness, upload_id))
        return upload(*args, **kwargs)

    engine.client.upload_file = upload_file  # type: ignore[method-assign]
    try:
        engine.senders()[ChangeKind.UPLOAD_DOCUMENT](upload_id)
    finally:
        engine.client.close()
    assert marked == [True, True]
    assert [f["file_name"] for f in harness.server.files(
        harness.server.cases("doctor-1")[0]["case_id"])] == ["lab.pdf"]


def _commits_flushed(h: Harness) -> tuple[list[bool], Any]:
    """Whether each commit on the cache is flushed by itself (synchronous=FULL), in order;
    and the listener, to remove."""
    flushed: list[bool] = []

    def seen(conn: Any) -> None:
        raw = conn.connection.dbapi_connection
        flushed.append(raw.execute("PRAGMA synchronous").fetchone()[0] == 2)

    event.listen(h.ws.engine, "commit", seen)
    return flushed, seen


def _synced_counting_flushes(h: Harness) -> tuple[Any, list[bool]]:
    """A sync, and whether each of its commits was flushed by itself, in order."""
    flushed, listener = _commits_flushed(h)
    try:
        return h.sync(), flushed
    finally:
        event.remove(h.ws.engine, "commit", listener)


def test_a_creates_answer_is_committed_without_its_own_fsync_and_the_run_ends_flushed(
        harness: Harness):
    """A create stays marked in flight, flushed to the disk before it leaves, until its
    answer is recorded; a power cut that takes the record back leaves it to be found on the
    server. So the answer's commit skips its fsync (one per create, before: 2 per create
    with the mark's share), the run's last commit flushes them all, and every later commit
    (a person's edit) is flushed again."""
    h = harness
    cases = [h.ws.create_case(f"Patient {n}", 20 + n, "female") for n in range(12)]
    flushed, listener = _commits_flushed(h)
    try:
        report = h.sync()
        during_sync = list(flushed)
        for case in cases[:6]:
            h.ws.edit_case(case.id, case_summary="seen again")
    finally:
        event.remove(h.ws.engine, "commit", listener)
    assert report.ok and report.created == 12, report
    unflushed = [n for n, was in enumerate(during_sync) if not was]
    assert len(unflushed) == 12  # the twelve answers, and nothing else
    assert during_sync[0] is True  # the first create's mark, before it left
    assert during_sync[-1] is True  # the run's last commit flushes every one before it
    assert flushed[len(during_sync):] == [True] * 6  # edits after the sync: flushed again
    assert sorted(c["patient_name"] for c in h.server.cases("doctor-1")) == sorted(
        c.patient_name for c in cases)


def test_an_uploads_answer_is_committed_without_its_own_fsync(harness: Harness):
    """The same for a file: marked in flight (flushed) before it leaves, found again by
    name and size if its record is lost, so the record skips its own fsync."""
    h = harness
    cases = [h.ws.create_case(f"Patient {n}", 40 + n, "male") for n in range(5)]
    assert h.sync().ok
    for n, case in enumerate(cases):
        h.ws.attach(case.id, [h.file(f"lab-{n}.pdf")], category="lab")
    report, flushed = _synced_counting_flushes(h)
    assert report.ok and report.uploaded == 5, report
    assert flushed.count(False) == 5 and flushed[0] and flushed[-1]
    assert sorted(f["file_name"] for c in h.server.cases("doctor-1")
                  for f in h.server.files(c["case_id"])) == [f"lab-{n}.pdf" for n in range(5)]


def test_an_updates_answer_is_committed_without_its_own_fsync(harness: Harness):
    """An edit stays marked in flight, flushed, before its write leaves; its answer's record
    skips its own fsync, and the run's last commit flushes it."""
    h = harness
    cases = [h.ws.create_case(f"Patient {n}", 50 + n, "female", "first") for n in range(6)]
    assert h.sync().ok
    for case in cases:
        h.ws.edit_case(case.id, case_summary="second")
    report, flushed = _synced_counting_flushes(h)
    assert report.ok and report.updated == 6, report
    assert flushed.count(False) == 6 and flushed[0] and flushed[-1]
    assert {c["case_summary"] for c in h.server.cases("doctor-1")} == {"second"}


def test_an_update_whose_record_was_lost_is_settled_by_the_next_read_not_sent_again(
        harness: Harness, monkeypatch):
    """What a power cut that takes back an unflushed record leaves: the write reached the
    server, the change is still marked in flight. The next sync's read before its write
    shows the value applied: nothing goes again, and the case is synced."""
    h = harness
    case = h.ws.create_case("Jane Smith", 32, "female", "first")
    assert h.sync().ok
    h.ws.edit_case(case.id, case_summary="second", patient_age=33)

    class PowerCut(Exception):
        pass

    def lost(*_: Any) -> None:
        raise PowerCut

    with monkeypatch.context() as m:
        m.setattr(MedMitraEngine, "_record_update", lost)
        with pytest.raises(PowerCut):
            h.sync()
    [change] = h.ws.pending()
    assert _in_flight_on_disk(h, change.id)
    server_id = h.ws.get_case(case.id).server_id
    assert (h.server.case(server_id)["case"]["case_summary"],
            h.server.case(server_id)["case"]["patient_age"]) == ("second", 33)
    h.server.clear_requests()
    report = h.sync()
    assert report.ok and report.conflicts == 0, report
    assert [r for r in h.server.requests() if r["method"] in ("PUT", "PATCH", "POST")] == []
    assert h.ws.pending() == []
    again = h.ws.get_case(case.id)
    assert (again.case_summary, again.patient_age, again.sync_state) == ("second", 33, "synced")
