"""The command line, run as a user would: real data folder, real files, exit codes, JSON."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.cli import main
from tests import samples

ROOT = Path(__file__).resolve().parents[1]


def run(data: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--data-dir", str(data), *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def new_case(data: Path, name: str = "Jane Smith", **extra: str) -> dict:
    args = ["cases", "new", "--name", name, "--age", extra.get("age", "32"), "--gender",
            extra.get("gender", "female"), "--json"]
    if "summary" in extra:
        args += ["--summary", extra["summary"]]
    code, out, err = run(data, *args)
    assert code == 0, err
    return json.loads(out)["case"]


def test_entry_point_module_runs(tmp_path):
    env = dict(os.environ, CASEDESK_DATA_DIR=str(tmp_path / "d"))
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "cases", "new", "--name", "Jane Smith", "--age", "32",
         "--gender", "female", "--summary", "Follow-up, diabetes"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Created case" in result.stdout
    listed = subprocess.run([sys.executable, "-m", "desktop", "cases", "list", "--json"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(listed.stdout)["total"] == 1


def test_a_command_leaves_at_once_and_loses_nothing_on_the_way(tmp_path):
    """After a command the process leaves without the interpreter's teardown (a tenth of a
    `casedesk sync` here): no exit handler runs, yet all of its output (more than a pipe
    holds), its exit code, its error message and its log's last line arrive."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('interpreter teardown ran\\n'))\n")
    env = dict(os.environ, CASEDESK_DATA_DIR=str(tmp_path / "d"),
               PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))

    def casedesk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desktop", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    notes = "word " * 20_000  # 100 kB: more than a pipe's buffer
    made = casedesk("cases", "new", "--name", "Jane Smith", "--age", "32", "--gender",
                    "female", "--summary", notes, "--json")
    assert made.returncode == 0, made.stderr
    assert "teardown" not in made.stderr
    case = json.loads(made.stdout)["case"]
    assert case["case_summary"] == notes
    log_lines = (tmp_path / "d" / "logs" / "casedesk.log").read_text().splitlines()
    assert log_lines and "blob store collected" in log_lines[-1]  # written as the cache closed

    missing = casedesk("cases", "show", "no-such-case")
    assert missing.returncode == 1 and "teardown" not in missing.stderr
    assert "no-such-case" in missing.stderr


def test_version(capsys):
    assert main(["--version"]) == 0
    assert "casedesk 0.1.0" in capsys.readouterr().out


def test_new_list_show_edit_json(tmp_path):
    data = tmp_path / "d"
    case = new_case(data, summary="Follow-up, diabetes")
    assert set(case) >= {"id", "server_id", "patient_name", "patient_age", "patient_gender",
                         "case_summary", "status", "created_at", "updated_at", "sync_state",
                         "sync_error"}
    new_case(data, "John Doe", gender="male", age="50")
    code, out, _ = run(data, "cases", "list", "--search", "smith", "--json")
    listed = json.loads(out)
    assert code == 0 and listed["total"] == 1 and listed["cases"][0]["id"] == case["id"]
    code, out, err = run(data, "cases", "edit", case["id"][:8], "--summary", "Stable",
                         "--status", "completed", "--age", "33", "--json")
    assert code == 0, err
    edited = json.loads(out)["case"]
    assert (edited["case_summary"], edited["status"], edited["patient_age"]) == ("Stable", "completed", 33)
    code, out, _ = run(data, "cases", "list", "--status", "completed", "--json")
    assert [c["id"] for c in json.loads(out)["cases"]] == [case["id"]]
    code, out, _ = run(data, "cases", "show", case["id"], "--json")
    shown = json.loads(out)
    assert shown["case"]["case_summary"] == "Stable" and shown["documents"] == []


def test_human_output(tmp_path):
    data = tmp_path / "d"
    case = new_case(data, summary="line one\nline two")
    code, out, _ = run(data, "cases", "list")
    assert code == 0 and "Jane Smith" in out and "1 case(s)" in out
    code, out, _ = run(data, "cases", "show", case["id"])
    assert "line two" in out and "not yet on the server" in out


def test_pending_json(tmp_path):
    data = tmp_path / "d"
    case = new_case(data)
    code, out, _ = run(data, "pending", "--json")
    rows = json.loads(out)["pending"]
    assert code == 0
    assert [(r["kind"], r["case_id"]) for r in rows] == [("create_case", case["id"])]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["cases", "new", "--name", "X", "--age", "200", "--gender", "male"], "between 0 and 150"),
        (["cases", "show", "nope-nope"], "No case with id"),
        (["attach", "nope-nope", "/tmp"], "No case with id"),
    ],
)
def test_errors_are_one_line_exit_1(tmp_path, args, needle):
    code, out, err = run(tmp_path / "d", *args)
    assert code == 1
    assert err.count("\n") == 1 and needle in err and err.startswith("casedesk: error:")
    assert "Traceback" not in err


def test_gender_edit_refused(tmp_path):
    data = tmp_path / "d"
    case = new_case(data)
    code, _, err = run(data, "cases", "edit", case["id"], "--gender", "male")
    assert code == 1 and "Gender cannot be changed" in err


@pytest.mark.parametrize("args", [["cases", "frobnicate"], ["cases", "new", "--name", "X"],
                                  ["cases", "list", "--sort", "shoe"], ["cases", "edit", "abcd"]])
def test_usage_errors_exit_2_one_line(tmp_path, args):
    code, _, err = run(tmp_path / "d", *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("casedesk: usage error:")


def test_bad_data_dir_is_explained(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out, err = io.StringIO(), io.StringIO()
    code = main(["--data-dir", str(blocker), "cases", "list"], out=out, err=err)
    assert code == 1 and "is a file, not a folder" in err.getvalue()


def test_attach_json_and_exit_codes(tmp_path):
    data = tmp_path / "d"
    case = new_case(data)
    good = tmp_path / "lab.pdf"
    good.write_bytes(samples.PDF)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    code, out, _ = run(data, "attach", case["id"], str(good), "--json")
    assert code == 0
    [result] = json.loads(out)["results"]
    assert result["outcome"] == "attached" and result["document"]["mime_type"] == "application/pdf"
    code, out, _ = run(data, "attach", case["id"], str(good), str(empty))
    assert code == 1
    assert "duplicate" in out and "refused" in out and "0 attached, 1 already attached, 1 refused" in out
    code, out, _ = run(data, "pending", "--json")
    kinds = [r["kind"] for r in json.loads(out)["pending"]]
    assert kinds == ["create_case", "upload_document"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], (None, None, False)),
        (["gui"], (None, None, False)),
        (["--data-dir", "/x", "--profile", "p", "-v"], ("/x", "p", True)),
        (["--data-dir=/x", "gui"], ("/x", None, False)),
        (["cases", "list"], None),
        (["--data-dir", "/x", "sync"], None),
        (["--version"], None),
        (["--help"], None),
    ],
)
def test_window_is_chosen_before_the_cli_loads(argv, expected):
    from desktop.__main__ import window_options

    assert window_options(argv) == expected


def test_window_path_does_not_import_the_data_layer_first():
    """The placeholder window must not wait for SQLAlchemy: the entry point decides first."""
    code = (
        "import sys; from desktop.__main__ import window_options; window_options([]);"
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy','desktop.cli'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_log_file_is_private(tmp_path):
    import stat

    data = tmp_path / "d"
    new_case(data)
    log_file = data / "logs" / "casedesk.log"
    assert log_file.exists()
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data / "logs").st_mode) == 0o700
    assert "Jane Smith" not in log_file.read_text()  # ids and counts only, never names


def test_rotated_log_files_stay_private(tmp_path):
    import logging
    import stat

    from desktop.logs import PrivateRotatingFileHandler

    handler = PrivateRotatingFileHandler(tmp_path / "x.log", maxBytes=200, backupCount=2)
    try:
        for i in range(50):
            handler.emit(logging.LogRecord("t", logging.INFO, __file__, 1, f"line {i:040d}", None, None))
    finally:
        handler.close()
    files = sorted(tmp_path.glob("x.log*"))
    assert len(files) == 3
    assert {stat.S_IMODE(os.stat(f).st_mode) for f in files} == {0o600}


def test_window_without_a_display_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "desktop", "--data-dir", str(tmp_path / "d")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no display" in result.stderr
