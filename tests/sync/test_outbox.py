"""The shared outbox engine's decisions, one by one: what is retried, deferred, parked,
reconciled, stopped on, and left queued, whatever server kind sends it.

The server kind here is a script (each send takes the next answer: a record, or the typed
error a real client raises); the cache, the outbox rows and the documents are real. The
end-to-end scenarios (tests/e2e) run the same engine against the reference server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from desktop.models.tables import Case, ChangeKind, PendingChange, utcnow
from desktop.sync import errors as err
from desktop.sync.outbox import OutboxEngine, RetryPolicy, Sender
from desktop.sync.records import RemoteFile
from desktop.sync.report import Phase, Stop, SyncProgress
from desktop.workspace import Workspace

Answer = RemoteFile | Exception


def remote(name: str, file_id: str = "f1") -> RemoteFile:
    return RemoteFile(file_id, "s1", name, "text/plain", 5, None, "lab", None)


class Scripted(OutboxEngine):
    """Takes uploads only; each send (and each reconcile) answers from its script."""

    def __init__(self, ws: Workspace, answers: list[Answer], found: list[RemoteFile | None]
                 | None = None, **options: Any) -> None:
        self.answers, self.found = list(answers), list(found or [])
        self.slept: list[float] = []
        self.sent: list[str] = []  # document names, one per request that left
        self.in_flight_seen: list[bool] = []  # read from the cache, inside each request
        self.reconciled = 0
        super().__init__(ws, client=None, policy=RetryPolicy(attempts=3),
                         sleep=self.slept.append, **options)

    def senders(self) -> dict[str, Sender]:
        return {ChangeKind.UPLOAD_DOCUMENT: self._upload}

    def _upload(self, change_id: int) -> None:
        with self.ws.sessions() as s:
            rows = self.upload_rows(s, change_id)
            assert rows is not None
            _change, doc, _case = rows
            name, doc_id = doc.name, doc.id
        self.mark_in_flight(change_id, {"name": name})

        def send() -> RemoteFile:
            with self.ws.sessions() as s:
                self.in_flight_seen.append(bool(s.get(PendingChange, change_id).in_flight))
            self.sent.append(name)
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        def reconcile() -> RemoteFile | None:
            self.reconciled += 1
            return self.found.pop(0) if self.found else None

        result = self.call(send, reconcile)
        self.record_upload(change_id, doc_id, result, adopted=result.file_id == "adopted")


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with Workspace.open(tmp_path / "data") as workspace:
        yield workspace


def on_server_with_files(ws: Workspace, tmp_path: Path, *names: str) -> str:
    """A case already on the server, with these files queued for upload (in this order)."""
    case = ws.create_case("Outbox Patient", 40, "female")
    with ws.transaction() as s:
        s.get(Case, case.id).server_id = "s1"
        for change in s.scalars(select(PendingChange).where(
                PendingChange.kind == ChangeKind.CREATE_CASE)):
            s.delete(change)
    for name in names:
        path = tmp_path / name
        path.write_text(f"file {name}\n")
        [result] = ws.attach(case.id, [path])
        assert result.outcome == "attached", result
    return case.id


def changes(ws: Workspace) -> list[PendingChange]:
    with ws.sessions() as s:
        return list(s.scalars(select(PendingChange).order_by(PendingChange.id)))


def states(ws: Workspace, case_id: str) -> dict[str, str]:
    return {d.name: d.state for d in ws.documents(case_id)}


def test_a_change_is_marked_in_flight_and_committed_before_its_request_leaves(ws, tmp_path):
    case = on_server_with_files(ws, tmp_path, "a.txt")
    engine = Scripted(ws, [remote("a.txt")])
    report = engine.run()
    assert report.ok and report.uploaded == 1
    assert engine.in_flight_seen == [True]  # another connection saw it: it was committed
    assert changes(ws) == [] and states(ws, case) == {"a.txt": "uploaded"}


def test_transient_failures_are_retried_in_the_run_with_backoff(ws, tmp_path):
    on_server_with_files(ws, tmp_path, "a.txt")
    engine = Scripted(ws, [err.ServerError("busy", status=503, retry_after=7.0),
                           err.NetworkError(), remote("a.txt")])
    report = engine.run()
    assert report.ok and report.uploaded == 1 and report.deferred == 0
    assert engine.sent == ["a.txt"] * 3
    assert engine.slept[0] == 7.0  # Retry-After wins over the jittered backoff
    assert 0 <= engine.slept[1] <= RetryPolicy().cap


def test_a_server_that_keeps_failing_defers_the_change_and_stops_the_run(ws, tmp_path):
    case = on_server_with_files(ws, tmp_path, "a.txt", "b.txt")
    engine = Scripted(ws, [err.ServerError("busy", status=503)] * 3)
    report = engine.run()
    assert (report.stop, report.deferred, report.parked) == (Stop.FAILED, 1, 0)
    assert report.error == "busy" and not report.ok
    assert engine.sent == ["a.txt"] * 3  # b.txt is not tried: it would fail the same way
    first, second = changes(ws)
    assert first.next_attempt_at is not None and first.next_attempt_at > utcnow()
    assert first.state == "queued" and first.last_error == "busy"
    assert second.next_attempt_at is None and second.attempts == 0
    assert states(ws, case) == {"a.txt": "local_only", "b.txt": "local_only"}


def test_a_deferred_change_waits_for_its_time_unless_a_person_asks(ws, tmp_path):
    on_server_with_files(ws, tmp_path, "a.txt")
    with ws.transaction() as s:
        s.scalar(select(PendingChange)).next_attempt_at = utcnow() + timedelta(minutes=5)
    periodic = Scripted(ws, [], honour_schedule=True)
    assert periodic.run().ok and periodic.sent == []
    manual = Scripted(ws, [remote("a.txt")], honour_schedule=False)
    assert manual.run().uploaded == 1 and manual.sent == ["a.txt"]


def test_a_refusal_parks_that_change_with_the_servers_reason_and_the_queue_goes_on(
    ws, tmp_path
):
    case = on_server_with_files(ws, tmp_path, "a.txt", "b.txt")
    refusal = err.RejectedError("The server refused this change: too large.", status=413)
    engine = Scripted(ws, [refusal, remote("b.txt")])
    report = engine.run()
    assert (report.parked, report.uploaded, report.stop) == (1, 1, None)
    assert report.problems == [str(refusal)]
    [parked] = changes(ws)
    assert (parked.state, parked.last_error, parked.in_flight) == ("parked", str(refusal), False)
    assert states(ws, case) == {"a.txt": "failed", "b.txt": "uploaded"}
    assert ws.get_case(case).sync_state == "error"
    again = Scripted(ws, [])
    assert again.run().ok and again.sent == []  # parked: not sent again until a person acts


def test_a_404_on_a_case_that_was_on_the_server_marks_it_removed_there(ws, tmp_path):
    case = on_server_with_files(ws, tmp_path, "a.txt")
    report = Scripted(ws, [err.RemoteNotFound()]).run()
    assert report.parked == 1
    assert ws.get_case(case).sync_state == "removed_remotely"


@pytest.mark.parametrize(("failure", "stop"), [
    (err.AuthError(), Stop.SIGN_IN),
    (err.OfflineError(), Stop.OFFLINE),
])
def test_sign_in_and_offline_stop_at_once_and_keep_the_queue(ws, tmp_path, failure, stop):
    case = on_server_with_files(ws, tmp_path, "a.txt", "b.txt")
    engine = Scripted(ws, [failure])
    report = engine.run()
    assert report.stop is stop and not report.ok and engine.slept == []  # no retry
    assert engine.sent == ["a.txt"] and report.parked == report.deferred == 0
    assert [c.state for c in changes(ws)] == ["queued", "queued"]
    assert states(ws, case) == {"a.txt": "local_only", "b.txt": "local_only"}


def test_an_unknown_outcome_is_looked_for_before_it_is_sent_again(ws, tmp_path):
    on_server_with_files(ws, tmp_path, "a.txt")
    engine = Scripted(ws, [err.OutcomeUnknownError()], found=[remote("a.txt", "adopted")])
    report = engine.run()
    assert engine.sent == ["a.txt"] and engine.reconciled == 1  # found: not sent twice
    assert report.adopted == 1 and report.uploaded == 0 and changes(ws) == []


def test_an_unknown_outcome_not_found_on_the_server_is_sent_again(ws, tmp_path):
    on_server_with_files(ws, tmp_path, "a.txt")
    engine = Scripted(ws, [err.OutcomeUnknownError(), remote("a.txt")], found=[None])
    report = engine.run()
    assert engine.reconciled == 1 and engine.sent == ["a.txt", "a.txt"]
    assert report.uploaded == 1 and report.adopted == 0


def test_a_plain_retry_does_not_reconcile(ws, tmp_path):
    on_server_with_files(ws, tmp_path, "a.txt")
    engine = Scripted(ws, [err.NetworkError(), remote("a.txt")], found=[remote("x", "adopted")])
    engine.run()
    assert engine.reconciled == 0  # a read that failed changed nothing on the server


def test_kinds_the_server_does_not_take_stay_queued_and_are_counted_not_failed(ws, tmp_path):
    class FilesOnly(Scripted):
        files_only = True
        server = "A portal"

    case = ws.create_case("New Here", 30, "male")  # a create: a files-only server cannot
    ws.edit_case(case.id, case_summary="edited")
    engine = FilesOnly(ws, [])
    report = engine.run()
    assert report.ok and report.case_changes_kept == 1 and engine.sent == []
    assert (report.server, report.files_only) == ("A portal", True)
    assert [c.kind for c in changes(ws)] == ["create_case"]


def test_cancel_stops_between_changes_and_leaves_the_rest_queued(ws, tmp_path):
    on_server_with_files(ws, tmp_path, "a.txt", "b.txt")
    shown: list[SyncProgress] = []
    engine = Scripted(ws, [remote("a.txt", "f1"), remote("b.txt", "f2")])
    report = engine.run(progress=shown.append, cancelled=lambda: bool(engine.sent))
    assert report.stop is Stop.CANCELLED and not report.ok
    assert engine.sent == ["a.txt"] and len(changes(ws)) == 1
    assert [p.phase for p in shown] == [Phase.PUSH, Phase.DONE]


def test_work_queued_by_a_send_goes_in_the_same_run_once(ws, tmp_path):
    on_server_with_files(ws, tmp_path, "a.txt")
    later = tmp_path / "later.txt"
    later.write_text("queued while a.txt was sent\n")

    class Queues(Scripted):
        def _upload(self, change_id: int) -> None:
            super()._upload(change_id)
            if self.sent == ["a.txt"]:
                case_id = self.ws.list_cases()[0].id
                self.ws.attach(case_id, [later])

    engine = Queues(ws, [remote("a.txt", "f1"), remote("later.txt", "f2")])
    report = engine.run()
    assert report.uploaded == 2 and engine.sent == ["a.txt", "later.txt"]


def test_a_run_that_stopped_records_why_and_a_run_that_finished_records_when(ws, tmp_path):
    on_server_with_files(ws, tmp_path, "a.txt")
    Scripted(ws, [err.OfflineError()]).run()
    status = _meta(ws)
    assert status.last_success_at is None and status.last_error == "offline"
    Scripted(ws, [remote("a.txt")]).run()
    status = _meta(ws)
    assert status.last_success_at is not None and status.last_error is None


def _meta(ws: Workspace) -> Any:
    from desktop.models.tables import SyncMeta

    with ws.sessions() as s:
        return s.get(SyncMeta, 1)


def test_the_report_is_data_and_survives_json(ws, tmp_path):
    import json

    on_server_with_files(ws, tmp_path, "a.txt")
    report = Scripted(ws, [err.AuthError("Token expired.")]).run()
    data = json.loads(json.dumps(report.to_json()))
    assert data["stop"] == "sign_in" and data["error"] == "Token expired." and not data["ok"]
    assert "casedesk" not in json.dumps(data)


