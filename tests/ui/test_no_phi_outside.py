"""No patient data outside the encrypted store: unique names, notes and file names go through
create, edit, attach, preview, sync (server errors and a conflict included) and a crash; then
the log folder, the temp folder, the settings files, the keychain, and the process's argv and
environment are searched. Zero occurrences; the cache and blobs hold none in clear either."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from desktop import datafolder
from desktop import logs as applogs
from desktop.sync import runner
from desktop.ui.main_window import MainWindow
from desktop.ui.sample_files import write_pdf
from desktop.workspace import Workspace
from tests.signin import sign_in

from .conftest import settle
from .documents.test_preview import show_documents


def planted() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {"name": f"Xanthippe Quellbrunn {tag}", "note": f"biopsy margin note {tag}",
            "edit": f"revised plan {tag}", "file": f"scan-of-quellbrunn-{tag}.pdf",
            "theirs": f"server side note {tag}"}


def occurrences(secrets: dict[str, str], places: list[Path]) -> list[str]:
    found = []
    needles = {k: v.encode() for k, v in secrets.items()}
    needles.update({f"{k} (utf-16)": v.encode("utf-16-le") for k, v in secrets.items()})
    for place in places:
        files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            found += [f"{what} in {path}" for what, needle in needles.items() if needle in data]
    return found


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "process-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def crash_while_saving(root: Path, name: str) -> None:
    """A child that configures logging as the app does, saves a case and is killed."""
    pid = os.fork()
    if pid == 0:
        try:
            applogs.configure(root / "logs", verbose=True)
            ws = Workspace(datafolder.prepare(root))
            case = ws.create_case(name, 44, "female", case_summary=name)
            ws.edit_case(case.id, case_summary=name + " again")
            logging.getLogger("desktop").info("about to crash")
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)


def test_planted_patient_data_appears_nowhere_outside_the_encrypted_store(
        qtbot, make_window, ws: Workspace, reference_server, test_keychain, qt_settings: Path,
        private_tmp: Path, tmp_path: Path) -> None:
    secrets = planted()
    root = ws.folder.root
    applogs.configure(ws.folder.logs, verbose=True)  # as the app does, at its most talkative
    try:
        sign_in(ws, reference_server.url)
        case = ws.create_case(secrets["name"], 61, "female", case_summary=secrets["note"])
        (tmp_path / "incoming").mkdir()
        source = write_pdf(tmp_path / "incoming" / secrets["file"], pages=2,
                           title=secrets["name"])
        ws.attach(case.id, [source])
        window: MainWindow = make_window()
        settle(qtbot, window)
        docs = show_documents(qtbot, window, case.id, 1)
        with qtbot.waitSignal(window.preview.rendered, timeout=10000):
            docs.table.selectRow(0)
        assert window.preview.kind == "pdf"
        # Sync through server errors, then a conflict.
        reference_server.fail_next(n=2, status=500)
        runner.run_sync(ws)
        report = runner.run_sync(ws)
        assert report.ok, report
        server_id = ws.get_case(case.id).server_id
        reference_server.edit_case(server_id, case_summary=secrets["theirs"])
        ws.edit_case(case.id, case_summary=secrets["edit"])
        runner.run_sync(ws)
        assert ws.conflicts(case.id)
        ws.resolve_conflict(case.id, "case_summary", "mine")
        assert runner.run_sync(ws).ok
        window.save_settings()
        window.close()
        settle(qtbot, window)
        crash_while_saving(root, secrets["name"] + " crash")
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_casedesk", False):
                logging.getLogger().removeHandler(handler)
                handler.close()
    logs = list(ws.folder.logs.glob("casedesk.log*"))
    assert logs and sum(p.stat().st_size for p in logs) > 1000  # it did log, a lot
    places = [ws.folder.logs, private_tmp, qt_settings, Path(test_keychain.path)]
    assert occurrences(secrets, places) == []
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime, "casedesk-open").exists():
        assert occurrences(secrets, [Path(runtime, "casedesk-open")]) == []
    process = " ".join(sys.argv) + "\n" + "\n".join(f"{k}={v}" for k, v in os.environ.items())
    process += Path("/proc/self/cmdline").read_bytes().decode(errors="replace")
    process += Path("/proc/self/environ").read_bytes().decode(errors="replace")
    assert not [k for k, v in secrets.items() if v in process]
    # The store itself: nothing in clear in the cache, its log, or the document files.
    stored = [p for p in root.iterdir() if p.name.startswith("casedesk.sqlite3")]
    assert occurrences(secrets, [*stored, ws.folder.blobs]) == []
