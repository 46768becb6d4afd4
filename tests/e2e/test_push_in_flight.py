"""Several requests in flight during a push: different cases side by side, each case's own
changes in order, and exactly once through a 401, a 5xx, a lost answer, a Retry-After, a
cancel and a kill -9 with several requests out at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from desktop.models.tables import PendingChange
from desktop.sync import runner
from desktop.workspace import Workspace
from tests.signin import sign_in

ROOT = Path(__file__).resolve().parents[2]
USER = "doctor-1"


def synced_cases(h, count: int) -> list:
    cases = [h.ws.create_case(f"Patient {n}", 30 + n, "female", "first visit")
             for n in range(count)]
    assert h.sync().ok
    return [h.ws.get_case(c.id) for c in cases]


def put_path(case) -> str:
    return f"/cases/cases/{case.server_id}"


def in_background(work):
    """Run *work* on a thread; its result (or error) once joined."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()

    def join():
        thread.join(60)
        assert not thread.is_alive(), "the sync did not finish"
        if "error" in box:
            raise box["error"]
        return box["result"]

    return join


def sync_while_held(h, *holds: int):
    """A sync's report, run while the server keeps requests waiting: it returns only once
    every hold has a request in it at the same moment, then releases them all."""
    join = in_background(h.sync)
    try:
        for rule in holds:
            h.server.wait_held(rule)
    finally:
        for rule in holds:
            h.server.release(rule)
    return join()


def cancelled_after_pushes(h, pushes: int) -> tuple:
    """Run a sync the person cancels once *pushes* changes have gone out: (the engine, the
    changes left)."""
    seen: list = []
    engine = h.engine()
    try:
        report = engine.run(progress=seen.append,
                            cancelled=lambda: sum(p.phase == "push" for p in seen) >= pushes)
    finally:
        engine.client.close()
    assert report.cancelled, report
    with h.ws.sessions() as s:
        return engine, list(s.query(PendingChange))


def server_cases(h) -> list[dict]:
    return h.server.cases(USER)


def assert_each_case_once(h) -> None:
    """Every local case stands for its own server case, and the server holds no other."""
    local = h.ws.cases_by_id(h.ws.case_ids())
    linked = [c.server_id for c in local.values()]
    assert None not in linked
    assert len(set(linked)) == len(linked)
    assert sorted(linked) == sorted(c["case_id"] for c in server_cases(h))


def test_updates_of_different_cases_are_in_flight_at_once(harness):
    """Two cases' writes held by the server at the same moment: the second left before the
    first was answered (one at a time, the second would never leave and this times out)."""
    h = harness
    first, y, z = synced_cases(h, 3)
    for case in (first, y, z):
        h.ws.edit_case(case.id, case_summary=f"edited {case.patient_name}")
    report = sync_while_held(h, h.server.hold(path=put_path(y), method="PUT"),
                             h.server.hold(path=put_path(z), method="PUT"))
    assert report.ok and report.updated == 3, report
    for case in (first, y, z):
        assert h.server.case(case.server_id)["case"]["case_summary"] == \
            f"edited {case.patient_name}"
    assert h.ws.pending() == []


def test_a_short_retry_after_holds_back_every_lane(harness):
    """One case's write is answered 503 with Retry-After: 5 while others are out; a lane that
    starts its next request after that waits the rest of those 5 seconds too (the harness
    records waits instead of sleeping them)."""
    h = harness
    first, y, z1, z2, z3, w = synced_cases(h, 6)
    for case in (first, y, z1, z2, z3, w):
        h.ws.edit_case(case.id, case_summary="after the outage")
    holds = [h.server.hold(path=put_path(c), method="PUT") for c in (z1, z2, z3)]
    h.server.fail_next(1, status=503, retry_after=5, path=put_path(y), method="PUT")
    join = in_background(h.sync)
    try:
        for hold in holds:  # three lanes out, held; the fourth (y) got its 503 and went on
            h.server.wait_held(hold)
        deadline = time.monotonic() + 30
        while not any(r["method"] == "PUT" and r["path"] == put_path(w) and r["status"]
                      for r in h.server.requests()):
            assert time.monotonic() < deadline, "w's lane never started"
            time.sleep(0.02)
    finally:
        for hold in holds:
            h.server.release(hold)
    report = join()
    assert report.ok and report.updated == 6, report
    assert 5 in h.sleeps  # y's own wait
    held_back = [s for s in h.sleeps if s != 5]
    assert held_back and all(0 < s <= 5 for s in held_back), h.sleeps  # w waited too


def test_a_401_mid_batch_stops_sending_and_keeps_every_change(harness):
    """The sign-in is refused for one case's write while others are out: what was answered
    is recorded, nothing more leaves, and after signing in again each change goes once."""
    h = harness
    cases = synced_cases(h, 8)
    for case in cases:
        h.ws.edit_case(case.id, case_summary=f"new notes {case.patient_name}")
    h.server.unauthorized_next(1, path=put_path(cases[2]), method="PUT")
    report = h.sync()
    assert report.auth_required, report
    assert report.updated < 8
    pending = {p.case_id for p in h.ws.pending()}
    for case in cases:  # each either on the server or still queued, never neither
        on_server = h.server.case(case.server_id)["case"]["case_summary"]
        assert (on_server == f"new notes {case.patient_name}") != (case.id in pending)
    assert cases[2].id in pending
    again = h.sync()
    assert again.ok and report.updated + again.updated == 8, again
    assert h.ws.pending() == []
    puts = [r for r in h.server.requests() if r["method"] == "PUT" and r["status"] == 200]
    assert len(puts) == 8  # each write applied once


def test_a_5xx_on_one_create_among_several_in_flight_gives_each_case_once(harness):
    """The server stores two creates and answers 500 (the first while alone, the second
    while others are out): both are found on the server before any re-send."""
    h = harness
    for n in range(12):
        h.ws.create_case(f"Walk-in {n}", 20 + n, "male", "queued offline")
    h.server.fail_next(2, status=500, after_work=True, path="/cases/create_case")
    report = h.sync()
    assert report.ok and report.created + report.adopted == 12, report
    assert report.adopted == 2
    assert_each_case_once(h)
    assert len(server_cases(h)) == 12


def test_lost_answers_among_several_in_flight_are_found_not_sent_again(harness):
    h = harness
    for n in range(12):
        h.ws.create_case(f"Night shift {n}", 40 + n, "female", "queued offline")
    h.server.drop_after_body(3, path="/cases/create_case")
    report = h.sync()
    assert report.ok and report.adopted == 3 and report.created == 9, report
    assert_each_case_once(h)


def test_alike_creates_never_take_each_others_case(harness):
    """Two new cases with the same content, one answer lost: the one whose answer was lost
    finds its own case, never its twin's (they share a lane, so they are never out at once)."""
    h = harness
    for _ in range(2):
        h.ws.create_case("Twin Patient", 7, "female", "same notes")
    for n in range(6):
        h.ws.create_case(f"Other {n}", 50 + n, "male")
    h.server.drop_after_body(2, path="/cases/create_case")
    report = h.sync()
    assert report.ok and report.created + report.adopted == 8, report
    assert_each_case_once(h)
    assert sum(c["patient_name"] == "Twin Patient" for c in server_cases(h)) == 2


def test_a_cancel_during_a_batch_leaves_no_create_marked_unsent(harness):
    """Creates are marked in flight a batch at a time; a cancel takes the mark back from
    those never sent, so the next run sends them without looking for them first."""
    h = harness
    for n in range(10):
        h.ws.create_case(f"Queued {n}", 60 + n, "female")
    _engine, left = cancelled_after_pushes(h, 4)
    assert left and not any(change.in_flight for change in left)
    on_server = len(server_cases(h))
    assert on_server == 10 - len(left)
    lists = sum(r["path"] == "/cases/all_cases" for r in h.server.requests())
    again = h.sync()
    assert again.ok and again.created == len(left) and again.adopted == 0, again
    # No look on the server before sending: only the pull after the push lists cases.
    assert sum(r["path"] == "/cases/all_cases" for r in h.server.requests()) == lists + 1
    assert_each_case_once(h)


def test_created_cases_are_not_read_again_for_their_files_in_the_same_sync(harness):
    """A create's answer lists every file of the new case: the sync after the push does not
    read those cases again (before: 25 stale plus 25 watched reads after 30 creates)."""
    h = harness
    for n in range(30):
        h.ws.create_case(f"Fresh {n}", 18 + n, "male")
    h.server.clear_requests()
    report = h.sync()
    assert report.ok and report.created == 30, report
    reads = [r for r in h.server.requests()
             if r["method"] == "GET" and r["path"].startswith("/cases/cases/")]
    assert reads == []
    # The next sync looks at them in turn, as at any other sync.
    h.server.clear_requests()
    assert h.sync().ok
    reads = [r for r in h.server.requests()
             if r["method"] == "GET" and r["path"].startswith("/cases/cases/")]
    assert len(reads) == 25


def killed_with_creates_in_flight(server, data: Path, creates: int) -> int:
    """Queue *creates* new cases and run ``casedesk sync`` against a server that stores each
    create and stalls before answering (the first is refused at once, and set aside); kill
    -9 the client with several stored and unanswered. Returns how many the server holds."""
    with Workspace.open(data) as ws:
        sign_in(ws, server.url, USER, "token-doctor-1")
        for n in range(creates):
            ws.create_case(f"Admitted {n}", 30 + n, "female", "queued offline")
    # The first create goes alone: refused at once (set aside), the run goes on side by side.
    server.fail_next(1, status=422, path="/cases/create_case")
    server.delay(60, path="/cases/create_case", after_work=True)
    # Several are stored at once, unanswered.
    sync_killed_once(server, data, lambda: len(server.cases(USER)) >= 3)
    return len(server.cases(USER))


def sync_killed_once(server, data: Path, held: Callable[[], bool]) -> None:
    """Run ``casedesk sync`` on *data* and kill -9 it as soon as *held* holds; then take the
    server's faults away."""
    env = dict(os.environ, CASEDESK_TOKEN="token-doctor-1")
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "--data-dir", str(data), "sync"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not held():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    server.clear_faults()


def test_kill_9_with_several_creates_in_flight_gives_each_case_once(
        reference_server, memory_keyring, tmp_path):
    """The server stores each create and stalls before answering; the client is killed with
    several out. The next sync finds each stored case and sends only the rest."""
    data = tmp_path / "d"
    stored = killed_with_creates_in_flight(reference_server, data, 12)
    assert stored >= 3
    with Workspace.open(data) as ws:
        report = runner.run_sync(ws)
        assert report.adopted == stored, report
        assert report.created == 11 - stored, report
        local = ws.cases_by_id(ws.case_ids())
        linked = sorted(c.server_id for c in local.values() if c.server_id)
        [refused] = ws.pending()  # the one the server refused, set aside with its reason
        assert refused.state == "parked"
    assert len(linked) == 11
    assert linked == sorted(c["case_id"] for c in reference_server.cases(USER))


def test_after_a_kill_9_the_creates_it_left_marked_are_looked_for_with_one_list_read(
        reference_server, memory_keyring, tmp_path):
    """Every create a killed run marked in flight (sent or not) is looked for on the server
    before it is sent again; the server's whole list is read once for all of them, not once
    each. Before: one read of the list per create marked."""
    data = tmp_path / "d"
    stored = killed_with_creates_in_flight(reference_server, data, 40)
    with Workspace.open(data) as ws:
        with ws.sessions() as s:
            marked = s.query(PendingChange).filter(PendingChange.in_flight.is_(True)).count()
        assert marked > stored + 5  # many marked with their batch, never sent
        reference_server.clear_requests()
        report = runner.run_sync(ws)
        assert report.ok and report.adopted == stored, report
        assert report.created == 39 - stored, report
        local = ws.cases_by_id(ws.case_ids())
    lists = [r for r in reference_server.requests() if r["path"] == "/cases/all_cases"]
    assert len(lists) == 2  # the look for the killed run's creates, and the pull
    linked = sorted(c.server_id for c in local.values() if c.server_id)
    assert linked == sorted(c["case_id"] for c in reference_server.cases(USER))
    assert len(linked) == 39


def test_a_cancel_during_a_batch_of_uploads_leaves_no_file_shown_uploading(harness):
    """Files are marked in flight (shown uploading) a batch at a time; a cancel puts those
    never sent back to waiting, and the next run sends each once."""
    h = harness
    cases = synced_cases(h, 10)
    for n, case in enumerate(cases):
        h.ws.attach(case.id, [h.file(f"note-{n}.pdf")])
    engine, left = cancelled_after_pushes(h, 3)
    # Only a file cut off mid-body stays in flight (looked for before it is sent again): at
    # most one per request out when the cancel came; those never sent are not.
    unsure = sum(change.in_flight for change in left)
    assert len(left) > unsure and unsure <= engine.in_flight
    states = [d.state for case in cases for d in h.ws.documents(case.id)]
    assert "uploading" not in states
    again = h.sync()
    assert again.ok and again.uploaded == len(left) and again.adopted == 0, again
    for n, case in enumerate(cases):
        assert [f["file_name"] for f in h.server.files(case.server_id)] == [f"note-{n}.pdf"]


def test_the_file_check_after_a_push_reads_several_cases_at_once(harness):
    """A sync looks at recently active cases' files, one read each: two of those reads held
    by the server at the same moment (one at a time, the second never leaves and this times
    out). The first goes alone, as a push's does."""
    from desktop.sync.details import _watched_cases

    h = harness
    cases = synced_cases(h, 4)
    with h.ws.sessions() as s:
        order = [row[1] for row in s.execute(_watched_cases())]
    assert sorted(order) == sorted(c.server_id for c in cases)
    report = sync_while_held(h, *(h.server.hold(path=f"/cases/cases/{sid}", method="GET")
                                  for sid in order[1:3]))
    assert report.ok, report
    reads = [r["path"] for r in h.server.requests()
             if r["method"] == "GET" and r["path"].startswith("/cases/cases/")]
    assert sorted(reads[-4:]) == sorted(f"/cases/cases/{sid}" for sid in order)


def test_a_file_check_of_a_single_case_reads_it_once(harness):
    """One recently active case: the first read goes alone and nothing is left to go
    beside it (a pool of no threads would be a fault)."""
    h = harness
    [case] = synced_cases(h, 1)
    h.server.clear_requests()
    report = h.sync()
    assert report.ok, report
    reads = [r["path"] for r in h.server.requests()
             if r["method"] == "GET" and r["path"].startswith("/cases/cases/")]
    assert reads == [f"/cases/cases/{case.server_id}"]


def test_kill_9_with_several_edits_in_flight_writes_none_of_them_again(
        reference_server, memory_keyring, tmp_path):
    """The server applies each edit and stalls before answering; the client is killed with
    several applied and unanswered (their records never written). The next sync's read before
    each write shows those values applied: none is written again, each case is synced, and
    only the edits that never left are sent, once each."""
    server, data = reference_server, tmp_path / "d"
    with Workspace.open(data) as ws:
        sign_in(ws, server.url, USER, "token-doctor-1")
        ids = [ws.create_case(f"Patient {n}", 30 + n, "female", "first visit").id
               for n in range(12)]
        assert runner.run_sync(ws).ok
        for n, case_id in enumerate(ids):
            ws.edit_case(case_id, case_summary=f"second visit {n}")
    # The first edit goes alone: refused at once (set aside), the rest go side by side.
    server.fail_next(1, status=422, path="/cases/cases/", method="PUT")
    server.delay(60, path="/cases/cases/", method="PUT", after_work=True)

    def applied() -> int:
        return sum(c["case_summary"].startswith("second") for c in server.cases(USER))

    sync_killed_once(server, data, lambda: applied() >= 3)
    left_applied = applied()
    server.clear_requests()
    with Workspace.open(data) as ws:
        report = runner.run_sync(ws)
        assert report.ok and report.conflicts == 0, report
        [refused] = ws.pending()  # the one the server refused, set aside with its reason
        assert refused.state == "parked"
        local = ws.cases_by_id(ids)
    writes = [r for r in server.requests() if r["method"] == "PUT"]
    assert len(writes) == 11 - left_applied
    on_server = {c["case_id"]: c["case_summary"] for c in server.cases(USER)}
    sent = [c for c in local.values() if c.id != refused.case_id]
    assert all(on_server[c.server_id] == c.case_summary for c in sent)
    assert all(c.sync_state == "synced" for c in sent)
