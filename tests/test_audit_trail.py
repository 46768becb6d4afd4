"""The audit trail: every view, create, edit (field, before, after), attach, conflict
resolution, discard, export, sign-in and sign-out is recorded with the OS user, the server
account and the time; append-only, hash-chained inside the encrypted cache; ``casedesk audit
verify`` tells a changed, removed or reordered entry; ``casedesk audit export``."""

from __future__ import annotations

import csv
import getpass
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from desktop.cli import main
from desktop.models.audit import Action
from desktop.sync import registry, runner
from desktop.workspace import Workspace
from tests import cachefile
from tests.signin import sign_in

NAME = "Philippa Abernethy-Oduya"


def cli(data: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--data-dir", str(data), *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def trail(tmp_path: Path) -> tuple[Path, str]:
    """A folder whose trail has a create, edits, an attach and a view."""
    root = tmp_path / "data"
    with Workspace.open(root) as ws:
        case = ws.create_case(NAME, 50, "female", case_summary="first note")
        ws.edit_case(case.id, case_summary="second note", patient_age=51)
        ws.edit_case(case.id, status="completed")
        source = tmp_path / "lab.txt"
        source.write_text("potassium 4.1\n")
        ws.attach(case.id, [source])
        ws.record_view(case.id)
    return root, case.id


def test_actions_are_recorded_with_who_when_and_before_after(trail) -> None:
    root, case_id = trail
    with Workspace.open(root) as ws:
        entries = ws.audit_entries(case_id)
    actions = [e.action for e in entries]
    assert actions == [Action.CREATE, Action.EDIT, Action.EDIT, Action.EDIT, Action.ATTACH,
                       Action.VIEW]
    edits = {e.detail["field"]: (e.detail["before"], e.detail["after"])
             for e in entries if e.action == Action.EDIT}
    assert edits == {"case_summary": ("first note", "second note"), "patient_age": (50, 51),
                     "status": ("pending", "completed")}
    assert entries[0].detail["fields"]["patient_name"] == NAME
    assert entries[4].detail["name"] == "lab.txt" and entries[4].document_id
    assert {e.os_user for e in entries} == {getpass.getuser()}
    now = datetime.now(UTC)
    assert all(now - timedelta(minutes=5) < e.at <= now for e in entries)


def test_sign_in_sign_out_conflicts_and_the_server_account(reference_server,
                                                           tmp_path: Path) -> None:
    with Workspace.open(tmp_path / "data") as ws:
        sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
        case = ws.create_case(NAME, 50, "female", case_summary="base")
        assert runner.run_sync(ws).ok
        server_id = ws.get_case(case.id).server_id
        reference_server.edit_case(server_id, case_summary="theirs")
        ws.edit_case(case.id, case_summary="mine")
        runner.run_sync(ws)
        ws.resolve_conflict(case.id, "case_summary", "theirs")
        registry.sign_out(ws)
        entries = ws.audit_entries()
    actions = [e.action for e in entries]
    assert actions[0] == Action.SIGN_IN and actions[-1] == Action.SIGN_OUT
    [resolved] = [e for e in entries if e.action == Action.RESOLVE]
    assert resolved.detail["choice"] == "theirs" and resolved.detail["mine"] == "mine"
    assert resolved.detail["kept"] == "theirs"  # and the value not chosen stays readable
    assert all(e.account and "doctor-1" in e.account for e in entries)


def test_the_trail_is_append_only(trail) -> None:
    root, _ = trail
    with Workspace.open(root) as ws:
        for statement in ("UPDATE audit_log SET action = 'view' WHERE id = 1",
                          "DELETE FROM audit_log WHERE id = 2"):
            with pytest.raises(IntegrityError, match="append-only"), ws.transaction() as s:
                s.connection().exec_driver_sql(statement)
        assert ws.verify_audit() == []


def _tamper(root: Path, *statements: str) -> None:
    """What someone with the cache's key could do to the file behind the app's back."""
    conn = cachefile.connect(root / "casedesk.sqlite3")
    with conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        for statement in statements:
            conn.execute(statement)
    conn.close()


@pytest.mark.parametrize("what, statements", [
    ("changed", ["UPDATE audit_log SET detail = json_set(detail, '$.after', 'forged') "
                 "WHERE action = 'edit' AND id = 2"]),
    ("removed", ["DELETE FROM audit_log WHERE id = 3"]),
    ("removed from the end", ["DELETE FROM audit_log WHERE id = (SELECT max(id) FROM "
                              "audit_log)"]),
    ("reordered", ["UPDATE audit_log SET id = 100 WHERE id = 2",
                   "UPDATE audit_log SET id = 2 WHERE id = 3",
                   "UPDATE audit_log SET id = 3 WHERE id = 100"]),
    ("user changed", ["UPDATE audit_log SET os_user = 'someone-else' WHERE id = 4"]),
])
def test_verify_tells_a_changed_removed_or_reordered_entry(trail, what: str,
                                                           statements: list[str]) -> None:
    root, _ = trail
    code, out, _ = cli(root, "audit", "verify")
    assert code == 0 and "is whole" in out, out
    _tamper(root, *statements)
    code, out, _ = cli(root, "audit", "verify")
    assert code == 1 and "tampered" in out, (what, out)


def test_export_csv_and_json_by_case_and_date(trail, tmp_path: Path) -> None:
    root, case_id = trail
    with Workspace.open(root) as ws:
        other = ws.create_case("Someone Else", 40, "male")
    code, out, err = cli(root, "audit", "export", "--case", case_id, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["action"] for r in rows][:2] == ["create", "edit"]
    assert {r["case_id"] for r in rows} == {case_id}
    code, out, _ = cli(root, "audit", "export", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert {r["case_id"] for r in table} >= {case_id, other.id}
    assert json.loads(table[1]["detail"])["before"] == "first note"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    code, out, _ = cli(root, "audit", "export", "--since", tomorrow, "--format", "json")
    assert json.loads(out) == []
    code, _, err = cli(root, "audit", "export", "--since", "last week", "--format", "json")
    assert code != 0 and "not a date" in err
    with Workspace.open(root) as ws:  # exports are on record too
        assert ws.audit_entries()[-1].action == Action.EXPORT
        assert ws.verify_audit() == []


def test_the_trail_is_inside_the_encrypted_cache(trail) -> None:
    root, _ = trail
    raw = (root / "casedesk.sqlite3").read_bytes()
    assert b"second note" not in raw and b"audit_log" not in raw
