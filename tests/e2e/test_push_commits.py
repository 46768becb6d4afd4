"""What one queued change costs the cache on its way to the server: the commits that keep it
exactly-once and no more (each is an fsync with synchronous=FULL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from desktop.models.tables import ChangeKind, PendingChange
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
