"""The command line's removals, moves, deletions, analyses and warnings, and their --json."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.workspace import Workspace
from tests import samples
from tests.signin import sign_in


def run(data: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)  # not a terminal: nothing is confirmed by typing
    try:
        code = main(["--data-dir", str(data), *args], out=out, err=err)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


def new_case(data: Path, name: str = "Maria Lopez", *extra: str) -> dict:
    code, out, err = run(data, "cases", "new", "--name", name, "--age", "46", "--gender",
                         "female", "--json", *extra)
    assert code == 0, err
    return json.loads(out)["case"]


def attach(data: Path, case_id: str, tmp_path: Path, name: str, content: bytes) -> dict:
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run(data, "attach", case_id, str(path), "--json")
    assert code == 0, err
    return json.loads(out)["results"][0]


def test_a_new_case_of_a_patient_already_here_is_refused_without_anyway(tmp_path):
    data = tmp_path / "d"
    first = new_case(data, "María López")
    code, out, err = run(data, "cases", "new", "--name", "maria  lopez", "--age", "47",
                         "--gender", "female")
    assert code == 1 and "may be this patient already" in out and "María López" in out
    assert "--anyway" in err
    code, out, _ = run(data, "cases", "list", "--json")
    assert json.loads(out)["total"] == 1
    code, out, _ = run(data, "cases", "new", "--name", "Maria Lopez", "--age", "46",
                       "--gender", "female", "--json")
    assert code == 1 and json.loads(out) == {"case": None, "matches": [
        json.loads(run(data, "cases", "show", first["id"], "--json")[1])["case"]]}
    second = new_case(data, "Maria Lopez", "--anyway")
    assert second["id"] != first["id"]


def test_remove_asks_first_and_says_what_waits(tmp_path):
    data = tmp_path / "d"
    case = new_case(data)
    doc = attach(data, case["id"], tmp_path, "lab.pdf", samples.PDF)["document"]
    code, _, err = run(data, "documents", "remove", doc["id"][:8])
    assert code == 1 and "Nothing was removed" in err and "--yes" in err
    code, out, _ = run(data, "documents", "remove", doc["id"][:8], "--yes", "--json")
    assert code == 0
    removal = json.loads(out)["removal"]
    assert removal["waits_for_server"] is False and removal["patient_name"] == "Maria Lopez"
    assert removal["document"]["id"] == doc["id"]
    code, out, _ = run(data, "cases", "show", case["id"], "--json")
    assert json.loads(out)["documents"] == []


def test_remove_and_restore_a_document_on_the_server(tmp_path):
    data = tmp_path / "d"
    case = new_case(data)
    doc = attach(data, case["id"], tmp_path, "lab.pdf", samples.PDF)["document"]
    with Workspace.open(data) as ws, ws.transaction() as s:
        s.connection().exec_driver_sql("DELETE FROM pending_changes")
        s.connection().exec_driver_sql(
            "UPDATE documents SET state = 'uploaded', server_file_id = 'f1'")
        s.connection().exec_driver_sql("UPDATE cases SET server_id = 's1'")
    code, out, _ = run(data, "documents", "remove", doc["id"], "--yes")
    assert code == 0 and "casedesk documents restore" in out
    code, out, _ = run(data, "pending", "--json")
    assert [p["kind"] for p in json.loads(out)["pending"]] == ["remove_document"]
    code, out, _ = run(data, "pending")
    assert "remove lab.pdf" in out
    code, out, _ = run(data, "documents", "restore", doc["id"], "--json")
    assert code == 0 and json.loads(out)["document"]["removed_at"] is None
    code, out, _ = run(data, "documents", "restore", "nope")
    assert code == 1


def test_move_a_document_to_another_case(tmp_path):
    data = tmp_path / "d"
    a = new_case(data)
    b = new_case(data, "Ann Other")
    doc = attach(data, a["id"], tmp_path, "lab.pdf", samples.PDF)["document"]
    code, out, err = run(data, "documents", "move", doc["id"], b["id"][:8], "--json")
    assert code == 0, err
    move = json.loads(out)["move"]
    assert (move["from_patient"], move["to_patient"]) == ("Maria Lopez", "Ann Other")
    assert move["document"]["case_id"] == b["id"]
    code, _, err = run(data, "documents", "move", doc["id"], b["id"])
    assert code == 1 and "already on the case of Ann Other" in err


def test_delete_restore_and_analyze_a_case(tmp_path):
    data = tmp_path / "d"
    case = new_case(data)
    attach(data, case["id"], tmp_path, "lab.pdf", samples.PDF)
    code, out, _ = run(data, "cases", "analyze", case["id"], "--json")
    assert code == 0 and json.loads(out)["case"]["analysis"] == "requested"
    code, out, _ = run(data, "cases", "show", case["id"])
    assert "Analysis  requested, not sent yet" in out
    code, _, err = run(data, "cases", "delete", case["id"])
    assert code == 1 and "Nothing was deleted" in err
    with Workspace.open(data) as ws, ws.transaction() as s:
        s.connection().exec_driver_sql("UPDATE cases SET server_id = 's1'")
    code, out, _ = run(data, "cases", "delete", case["id"], "--yes", "--json")
    deletion = json.loads(out)["deletion"]
    assert code == 0 and deletion["documents"] == 1 and deletion["waits_for_server"] is True
    code, out, _ = run(data, "cases", "list", "--json")
    assert json.loads(out)["total"] == 0
    code, out, _ = run(data, "cases", "show", case["id"])
    assert "Deleted   here" in out
    code, out, _ = run(data, "cases", "restore", case["id"], "--json")
    assert code == 0 and json.loads(out)["case"]["removed_at"] is None
    code, out, _ = run(data, "cases", "list", "--json")
    assert json.loads(out)["total"] == 1


def test_attach_warns_of_a_dicom_file_naming_another_patient(tmp_path):
    data = tmp_path / "d"
    case = new_case(data)
    path = tmp_path / "ct.dcm"
    path.write_bytes(samples.dicom("Test^Synthetic", "SYN-1"))
    code, out, _ = run(data, "attach", case["id"], str(path))
    assert code == 0 and "attached" in out
    assert "warning: its DICOM header names the patient 'Test^Synthetic', not 'Maria Lopez'" in out
    code, out, _ = run(data, "cases", "show", case["id"], "--json")
    [doc] = json.loads(out)["documents"]
    assert doc["patient_mismatch"] == ["name"] and doc["dicom_patient_name"] == "Test^Synthetic"
    code, out, _ = run(data, "cases", "show", case["id"])
    assert "warning: its DICOM header names the patient 'Test^Synthetic'" in out


@pytest.mark.parametrize("choice", ["--mine", "--theirs"])
def test_a_deletion_conflict_is_listed_and_resolved(reference_server, memory_keyring, tmp_path,
                                                    choice):
    data = tmp_path / "d"
    with Workspace.open(data) as ws:
        sign_in(ws, reference_server.url)
    case = new_case(data)
    assert run(data, "sync")[0] == 0
    run(data, "cases", "delete", case["id"], "--yes")
    [remote] = reference_server.cases("doctor-1")
    reference_server.edit_case(remote["case_id"], case_summary="lab results")
    code, out, _ = run(data, "sync")
    assert "1 conflict(s) to resolve" in out
    code, out, _ = run(data, "conflicts")
    assert "mine:   deleted here" in out and "changed on the server (changed case_summary)" in out
    code, out, _ = run(data, "resolve", case["id"], "case", choice)
    assert code == 0
    assert ("deleted on the server at the next sync" if choice == "--mine"
            else "the case stays") in out
    run(data, "sync")
    assert len(reference_server.cases("doctor-1")) == (0 if choice == "--mine" else 1)
