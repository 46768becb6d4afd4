"""The push's plain writes (``desktop/sync/plain_writes.py``) against the full ORM way.

Each scenario runs twice on the reference server, on two workstations with accounts of their
own: once as shipped, once with the plain way switched off. Both must leave the same rows (the
case, its outbox, its conflicts) and the same report, after the push (the pull that follows
would write the cases again) and after a whole sync. Then: the plain way is what a plain edit
takes, and costs a handful of statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from desktop.models.tables import Case, ChangeKind, ChangeState, Conflict, PendingChange
from desktop.sync import registry
from desktop.sync.medmitra import engine as engine_module
from desktop.sync.report import SyncReport
from desktop.workspace import Workspace
from tests.e2e.conftest import Harness
from tests.signin import sign_in

Labels = dict[str, str]  # a patient's first name -> the local case id


def _cases(h: Harness) -> Labels:
    labels: Labels = {}
    for name, age, summary in (("Amara Okafor", 41, "Chest pain"), ("Chen Wei", 8, "Fever"),
                               ("Dana Ruiz", 67, None)):
        labels[name.split()[0]] = h.ws.create_case(name, age, "female", summary).id
    assert h.sync().ok
    return labels


def _push(h: Harness, client: object | None = None) -> SyncReport:
    """A sync without its pull: the pull after it would write the case again."""
    engine = h.engine(client)
    engine.after_push = lambda: None  # type: ignore[method-assign]
    try:
        return engine.run()
    finally:
        engine.client.close()


def _server_id(h: Harness, case_id: str) -> str:
    server_id = h.ws.get_case(case_id).server_id
    assert server_id is not None
    return server_id


def one_field(h: Harness, c: Labels) -> list[SyncReport]:
    h.ws.edit_case(c["Amara"], case_summary="Chest pain, resolved")
    return [_push(h)]


def several_fields_on_several_cases(h: Harness, c: Labels) -> list[SyncReport]:
    h.ws.edit_case(c["Amara"], patient_name="Amara Okafor-Ade", patient_age=42)
    h.ws.edit_case(c["Chen"], case_summary="")
    h.ws.edit_case(c["Dana"], case_summary="First note", status="analyzing")
    return [_push(h)]


def a_parked_upload_on_the_case(h: Harness, c: Labels) -> list[SyncReport]:
    [taken] = h.ws.attach(c["Chen"], [h.file("scan.pdf")], category="lab")
    assert taken.document is not None
    reason = "The server refused scan.pdf: too large."
    with h.ws.transaction() as s:
        change = s.scalar(select(PendingChange).where(
            PendingChange.kind == ChangeKind.UPLOAD_DOCUMENT))
        assert change is not None
        change.state, change.last_error = ChangeState.PARKED, reason
        case = s.get(Case, c["Chen"])
        assert case is not None
        case.sync_state, case.sync_error = "error", reason
    h.ws.edit_case(c["Chen"], case_summary="Fever, day 2")
    return [_push(h)]


def a_reason_left_from_an_earlier_failure(h: Harness, c: Labels) -> list[SyncReport]:
    h.ws.edit_case(c["Dana"], patient_age=68)
    with h.ws.transaction() as s:
        case = s.get(Case, c["Dana"])
        assert case is not None
        case.sync_error = "The server could not be reached."
    return [_push(h)]


def an_open_conflict_on_another_field(h: Harness, c: Labels) -> list[SyncReport]:
    h.server.edit_case(_server_id(h, c["Amara"]), case_summary="Chest pain (server)")
    h.ws.edit_case(c["Amara"], case_summary="Chest pain (here)")
    first = h.sync()
    h.ws.edit_case(c["Amara"], patient_age=44)
    return [first, _push(h)]


def edited_again_while_the_write_was_out(h: Harness, c: Labels) -> list[SyncReport]:
    h.ws.edit_case(c["Dana"], case_summary="Second note")
    client = registry.open_client(h.ws)
    send = client.update_case

    def update_case(*args: Any, **kwargs: Any) -> Any:
        h.ws.edit_case(c["Dana"], case_summary="Third note")
        return send(*args, **kwargs)

    client.update_case = update_case  # type: ignore[method-assign]
    return [_push(h, client)]


def edited_back_to_the_servers_value(h: Harness, c: Labels) -> list[SyncReport]:
    h.ws.edit_case(c["Chen"], case_summary="Fever, maybe flu")
    h.ws.edit_case(c["Chen"], case_summary="Fever")
    h.ws.edit_case(c["Chen"], patient_age=9)
    return [_push(h)]


def another_field_changed_on_the_server(h: Harness, c: Labels) -> list[SyncReport]:
    h.server.edit_case(_server_id(h, c["Chen"]), patient_name="Chen Wei Li")
    h.ws.edit_case(c["Chen"], case_summary="Fever, day 3")
    return [_push(h)]


SCENARIOS: list[Callable[[Harness, Labels], list[SyncReport]]] = [
    one_field, several_fields_on_several_cases, a_parked_upload_on_the_case,
    a_reason_left_from_an_earlier_failure,
    an_open_conflict_on_another_field, edited_again_while_the_write_was_out,
    edited_back_to_the_servers_value, another_field_changed_on_the_server,
]


def _rows(ws: Workspace, c: Labels) -> dict[str, Any]:
    """What the two ways must agree on, keyed by patient (ids and times differ per run)."""
    label = {case_id: name for name, case_id in c.items()}
    with ws.sessions() as s:
        cases = {label[case.id]: (
            case.patient_name, case.patient_age, case.case_summary, case.status, case.base,
            case.sync_state, case.sync_error, case.detail_stale, case.numeric_id is not None,
            case.server_updated_at is not None) for case in s.scalars(select(Case))}
        changes = sorted((label[ch.case_id], ch.kind, ch.fields, ch.state, ch.in_flight,
                          ch.payload, ch.attempts, ch.last_error)
                         for ch in s.scalars(select(PendingChange)))
        conflicts = sorted((label[k.case_id], k.field, str(k.base_value), str(k.local_value),
                            str(k.server_value), k.resolved_at is None)
                           for k in s.scalars(select(Conflict)))
    return {"cases": cases, "changes": changes, "conflicts": conflicts}


@pytest.fixture
def desks(reference_server, memory_keyring, tmp_path) -> Iterator[tuple[Harness, Harness]]:
    with Workspace.open(tmp_path / "plain") as a, Workspace.open(tmp_path / "full") as b:
        sign_in(a, reference_server.url, "doctor-1", "token-doctor-1")
        sign_in(b, reference_server.url, "doctor-2", "token-doctor-2")
        yield Harness(a, reference_server, tmp_path), Harness(b, reference_server, tmp_path)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_the_plain_way_leaves_what_the_full_way_leaves(desks, monkeypatch, scenario):
    plain, full = desks
    results = []
    for h, switched_off in ((plain, False), (full, True)):
        with monkeypatch.context() as m:
            if switched_off:
                m.setattr(engine_module, "mark_plain_update", lambda *a: None)
                m.setattr(engine_module, "record_plain_update", lambda *a: False)
                m.setattr(engine_module, "link_plain_create", lambda *a: False)
            c = _cases(h)
            reports = scenario(h, c)
            pushed = _rows(h.ws, c)
            after = h.sync()
        assert all(r.ok for r in [*reports, after]), reports
        results.append((pushed, [r.counts() for r in reports], _rows(h.ws, c), after.counts()))
    assert results[0] == results[1]


def test_a_plain_edit_takes_the_plain_way_in_a_handful_of_statements(desks):
    h = desks[0]
    c = _cases(h)
    h.ws.edit_case(c["Amara"], case_summary="Chest pain, resolved", patient_age=42)
    with h.ws.sessions() as s:
        change_id = s.scalar(select(PendingChange.id))
    assert change_id is not None
    statements: list[str] = []

    def counted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("PRAGMA"):  # an unflushed commit's setting, not work
            statements.append(statement)

    engine = h.engine()
    event.listen(h.ws.engine, "before_cursor_execute", counted)
    try:
        engine.senders()[ChangeKind.UPDATE_CASE](change_id)
    finally:
        event.remove(h.ws.engine, "before_cursor_execute", counted)
        engine.client.close()
    assert engine.report.updated == 1
    case = h.ws.get_case(c["Amara"])
    assert (case.case_summary, case.patient_age, case.sync_state) == (
        "Chest pain, resolved", 42, "synced")
    assert h.ws.pending() == []
    # Through the ORM: 22 statements (merge loads, a flush, re-loads). Plain, 14: the case to
    # write to; BEGIN IMMEDIATE, 3 reads and 3 writes (one the state's) before the request;
    # BEGIN IMMEDIATE, 2 reads and 3 writes after its answer.
    assert len(statements) <= 14, statements


def test_a_stored_file_is_linked_and_its_case_settled_by_the_push_itself(desks):
    """The upload's record (plain statements, no full way beside it): the document points at
    the server's file, the change is gone, and the case is synced before any pull looks."""
    h = desks[0]
    c = _cases(h)
    h.ws.attach(c["Chen"], [h.file("scan.pdf")], category="lab")
    assert h.ws.get_case(c["Chen"]).sync_state == "pending"
    report = _push(h)
    assert report.ok and report.uploaded == 1, report
    [doc] = h.ws.documents(c["Chen"])
    [stored] = h.server.files(_server_id(h, c["Chen"]))
    assert (doc.state, doc.server_file_id, doc.error) == ("uploaded", stored["file_id"], None)
    assert doc.uploaded_at is not None and doc.file_url
    assert h.ws.pending() == []
    assert h.ws.get_case(c["Chen"]).sync_state == "synced"
