"""The hostile-server suite: the reference server answering as an attacker would, one mode per
attack of issue 13, against the real command line in a child process.

For every mode: one clear line (no traceback, nothing "unexpected"), bounded memory (the
child's VmHWM beside a normal sync's) and time, the queued edit intact (on the server or still
queued), and the cache's integrity check "ok". The caps are lowered through the environment
(they can only be lowered) so that small bombs prove them quickly; the full-size figures are
measured by bench/hostile.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from desktop.models.tables import Document
from desktop.sync import runner
from desktop.workspace import Workspace
from tests import cachefile
from tests import keychain as keychain_module
from tests.e2e.conftest import PDF
from tests.signin import sign_in

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20
CAPS = {
    "CASEDESK_MAX_LIST_BYTES": str(4 * MIB),
    "CASEDESK_MAX_ANSWER_BYTES": str(1 * MIB),
    "CASEDESK_MAX_DOWNLOAD_BYTES": str(8 * MIB),
    "CASEDESK_REQUEST_DEADLINE": "3",
}
# Growth over a normal sync that a bomb may cost: the lowered caps plus a decoding piece.
MEMORY_MARGIN_KIB = 24 * 1024
TIME_LIMIT = 20.0

SYNC_CHILD = """
import sys
from desktop.cli import main
code = main(sys.argv[2:])
sys.stdout.flush()
with open(sys.argv[1], "w") as f:
    f.write([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])
sys.exit(code)
"""

DOWNLOAD_CHILD = """
import sys
from pathlib import Path
from desktop import logs
from desktop.errors import CaseDeskError
from desktop.sync import runner
from desktop.workspace import Workspace
logs.configure(Path(sys.argv[2]) / "logs")
with Workspace.open(sys.argv[2]) as ws:
    try:
        runner.download(ws, sys.argv[3])
        print("downloaded")
        code = 0
    except CaseDeskError as exc:
        print(f"casedesk: error: {exc}")
        code = 1
with open(sys.argv[1], "w") as f:
    f.write([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])
sys.exit(code)
"""


@dataclass
class Run:
    code: int
    lines: list[str]
    stderr: str
    hwm_kib: int
    seconds: float


def child(code: str, *args: str, tmp: Path, keychain: Path | None = None) -> Run:
    """The test keychain holds the data folder's key (and the sign-in)."""
    env = dict(os.environ, CASEDESK_TOKEN="token-doctor-1",
               PYTHON_KEYRING_BACKEND=keychain_module.BACKEND, PYTHONPATH=str(ROOT), **CAPS)
    if keychain is not None:
        env[keychain_module.ENV] = str(keychain)
    hwm = tmp / f"hwm-{time.monotonic_ns()}"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code, str(hwm), *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    return Run(result.returncode, result.stdout.splitlines(), result.stderr,
               int(hwm.read_text()), time.monotonic() - started)


@dataclass
class Scene:
    server: object
    data: Path
    tmp: Path
    case_id: str
    server_case: str

    def sync(self) -> Run:
        return child(SYNC_CHILD, "--data-dir", str(self.data), "sync", tmp=self.tmp)

    def download(self, doc_id: str) -> Run:
        return child(DOWNLOAD_CHILD, str(self.data), doc_id, tmp=self.tmp)

    def edit_reached_server_or_waits(self) -> bool:
        remote = self.server.case(self.server_case)["case"]  # type: ignore[attr-defined]
        if remote["case_summary"] == "queued edit":
            return True
        with Workspace.open(self.data) as ws:
            return any(p.case_id == self.case_id and p.kind == "update_case"
                       for p in ws.pending())

    def integrity(self) -> str:
        conn = cachefile.connect(self.data / "casedesk.sqlite3")
        try:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()


@pytest.fixture
def scene(reference_server, memory_keyring, tmp_path) -> Scene:
    reference_server.seed_cases("doctor-1", 30)
    data = tmp_path / "data"
    with Workspace.open(data) as ws:
        sign_in(ws, reference_server.url, verify=False)
        assert runner.run_sync(ws).ok
        record = next(c for c in ws.list_cases() if c.server_id)
        ws.edit_case(record.id, case_summary="queued edit")
    return Scene(reference_server, data, tmp_path, record.id, str(record.server_id))


@pytest.fixture(scope="module")
def normal_hwm(tmp_path_factory, _reference_server_process) -> int:
    """A normal sync's peak memory: what every bomb is measured against."""
    server = _reference_server_process
    server.reset()
    server.seed_cases("doctor-1", 30)
    tmp = tmp_path_factory.mktemp("normal")
    import keyring

    previous = keyring.get_keyring()
    keychain = tmp / "keychain.json"
    keyring.set_keyring(keychain_module.SharedKeyring(keychain))
    try:
        with Workspace.open(tmp / "data") as ws:
            sign_in(ws, server.url, verify=False)
    finally:
        keyring.set_keyring(previous)
    runs = [child(SYNC_CHILD, "--data-dir", str(tmp / "data"), "sync", tmp=tmp,
                  keychain=keychain) for _ in range(2)]
    assert all(r.code == 0 for r in runs), runs[0].stderr
    return max(r.hwm_kib for r in runs)


def one_clear_line(run: Run) -> str:
    assert len(run.lines) == 1, run.lines
    assert run.stderr == "", run.stderr
    line = run.lines[0]
    assert "Traceback" not in line and "unexpected" not in line.lower()
    return line


def bounded(run: Run, normal_hwm: int) -> None:
    assert run.hwm_kib <= normal_hwm + MEMORY_MARGIN_KIB, (run.hwm_kib, normal_hwm)
    assert run.seconds < TIME_LIMIT, run.seconds


BOMBS = {
    # mode: (hostile() arguments, words the one line must hold)
    "gzip_bomb": (dict(mode="gzip_bomb", path="/cases/all_cases", size=96 * MIB),
                  "larger than Case Desk accepts"),
    "huge_body": (dict(mode="huge_body", path="/cases/all_cases", size=48 * MIB),
                  "larger than Case Desk accepts"),
    "huge_detail": (dict(mode="huge_body", path="/cases/cases/", size=16 * MIB),
                    "larger than Case Desk accepts"),
    "dense_body": (dict(mode="dense_body", path="/cases/all_cases", size=3 * MIB),
                   "far more empty records"),
    "drip": (dict(mode="drip", path="/cases/all_cases", seconds=0.5),
             "took longer than Case Desk waits"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_memory_and_time_bombs_end_in_one_line(scene: Scene, normal_hwm: int,
                                                name: str) -> None:
    rule, words = BOMBS[name]
    if name == "huge_detail":
        scene.server.edit_case(scene.server_case, status="completed")  # type: ignore[attr-defined]
    scene.server.hostile(**rule)  # type: ignore[attr-defined]
    run = scene.sync()
    line = one_clear_line(run)
    assert words in line and run.code == 1
    bounded(run, normal_hwm)
    assert scene.edit_reached_server_or_waits()
    assert scene.integrity() == "ok"


def test_long_retry_after_is_scheduled_not_slept(scene: Scene, normal_hwm: int) -> None:
    scene.server.fail_next(n=20, status=503, retry_after=3600,  # type: ignore[attr-defined]
                           path="/cases/all_cases")
    scene.server.clear_requests()  # type: ignore[attr-defined]
    run = scene.sync()
    line = one_clear_line(run)
    assert "asked to be left alone for 60 min" in line
    bounded(run, normal_hwm)
    listed = [r for r in scene.server.requests()  # type: ignore[attr-defined]
              if r["path"] == "/cases/all_cases"]
    assert len(listed) == 1  # asked once, then left alone: no sleeping retries in the run
    assert scene.edit_reached_server_or_waits()
    assert scene.integrity() == "ok"


@pytest.mark.parametrize("record, why", [
    ("age_huge", "patient age is out of range"),
    ("age_float", "patient age is out of range"),
    ("no_id", "no usable id"),
    ("deep", "nested too deeply"),
])
def test_one_bad_record_is_set_aside_and_the_sync_goes_on(scene: Scene, normal_hwm: int,
                                                          record: str, why: str) -> None:
    new = scene.server.create_case("doctor-1", patient_name="Still Pulled",  # type: ignore[attr-defined]
                                   patient_age=50, patient_gender="male")
    scene.server.hostile("record", path="/cases/all_cases", record=record)  # type: ignore[attr-defined]
    run = scene.sync()
    line = one_clear_line(run)
    assert run.code == 0 and "1 unreadable server record(s) set aside" in line and why in line
    assert "1 updated" in line and "1 new" in line
    bounded(run, normal_hwm)
    assert scene.server.case(scene.server_case)["case"]["case_summary"] == "queued edit"  # type: ignore[attr-defined]
    with Workspace.open(scene.data) as ws:
        assert any(c.server_id == new["case_id"] for c in ws.list_cases())
        assert not any(c.patient_name.startswith("Hostile") for c in ws.list_cases())
    assert scene.integrity() == "ok"


@pytest.mark.parametrize("record, why", [
    ("file_size_huge", "file size is out of range"),
    ("file_url_bad", "download address is not a web address"),
])
def test_one_bad_file_record_is_set_aside(scene: Scene, normal_hwm: int, record: str,
                                          why: str) -> None:
    scene.server.add_file(scene.server_case, "ok.pdf", PDF, "application/pdf")  # type: ignore[attr-defined]
    scene.server.hostile("record", path="/cases/cases/", record=record)  # type: ignore[attr-defined]
    run = scene.sync()
    line = one_clear_line(run)
    assert run.code == 0 and why in line
    bounded(run, normal_hwm)
    with Workspace.open(scene.data) as ws:
        names = [d.name for d in ws.documents(scene.case_id)]
    assert names == ["ok.pdf"]
    assert scene.integrity() == "ok"


DOWNLOADS = {
    "declared_small": (dict(mode="oversize_download", size=16 * MIB),
                       "more than it declared"),
    "gzip_download": (dict(mode="gzip_download", size=256 * MIB),
                      "more than it declared"),
    "program": (dict(mode="program_download"), "looks like a Windows program"),
}


@pytest.mark.parametrize("name", list(DOWNLOADS))
def test_download_bombs_and_lies_are_not_kept(scene: Scene, normal_hwm: int,
                                              name: str) -> None:
    rule, words = DOWNLOADS[name]
    scene.server.add_file(scene.server_case, "lab-result.pdf", PDF[:45].ljust(45, b"%"),  # type: ignore[attr-defined]
                          "application/pdf")
    with Workspace.open(scene.data) as ws:
        assert runner.run_sync(ws).ok
        [doc] = ws.documents(scene.case_id)
    assert doc.size == 45
    scene.server.hostile(path="/files/", **rule)  # type: ignore[attr-defined]
    run = scene.download(doc.id)
    line = one_clear_line(run)
    assert run.code == 1 and words in line
    bounded(run, normal_hwm)
    stored = sum(p.stat().st_size for p in (scene.data / "blobs").rglob("*") if p.is_file())
    assert stored == 0  # nothing kept, and no temp file left behind
    with Workspace.open(scene.data) as ws:
        [after] = ws.documents(scene.case_id)
        assert after.state == "remote_only" and after.sha256 is None and words in after.error
        with ws.sessions() as s:
            assert s.get(Document, doc.id) is not None
    assert scene.integrity() == "ok"
