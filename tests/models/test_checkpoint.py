"""Saves reach the main database file within moments, while the workspace stays open: a crash
followed by a lost ``-wal`` file costs the last few seconds, not the whole session.

The measured bound is in bench/durability.py (and the README); here only that it holds at
all: a writer killed with SIGKILL and its log deleted still has its earlier saves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from desktop.models.checkpoint import Checkpointer
from desktop.workspace import Workspace
from tests import cachefile

ROOT = Path(__file__).resolve().parents[2]

# A window-like writer: one workspace kept open, a save every 50 ms, each acknowledged on
# stdout once its transaction has committed.
WRITER = """
import sys, time
from desktop.workspace import Workspace
ws = Workspace.open(sys.argv[1])
case = ws.create_case("Writer", 40, "female", "0")
print("ready", case.id, flush=True)
n = 0
while True:
    n += 1
    ws.edit_case(case.id, case_summary=str(n))
    print(n, flush=True)
    time.sleep(0.05)
"""


def main_file_only(cache: Path, tmp: Path):
    """The cache as it would be with its log lost: the main file alone, copied."""
    copy = tmp / f"copy-{time.monotonic_ns()}.sqlite3"
    copy.write_bytes(cache.read_bytes())
    return cachefile.connect(copy, folder=cache.parent)


def test_a_save_reaches_the_main_file_while_the_workspace_stays_open(tmp_path):
    with Workspace.open(tmp_path / "d") as ws:
        case = ws.create_case("Jane", 30, "female", "first")
        ws.edit_case(case.id, case_summary="saved")
        deadline = time.monotonic() + 20
        while True:
            conn = main_file_only(ws.folder.cache, tmp_path)
            try:
                found = conn.execute("SELECT case_summary FROM cases").fetchall()
            except cachefile.DatabaseError:
                found = []
            conn.close()
            if found == [("saved",)]:
                break
            assert time.monotonic() < deadline, "the save never left the write-ahead log"
            time.sleep(0.1)


def test_a_killed_writer_that_lost_its_log_keeps_all_but_its_last_moments(tmp_path):
    data = tmp_path / "d"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(data)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        head = proc.stdout.readline().split()
        assert head[0] == "ready", head
        acknowledged = 0
        started = time.monotonic()
        while time.monotonic() - started < 4:
            acknowledged = int(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    cache = data / "casedesk.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    conn = cachefile.connect(cache)
    [(summary,)] = conn.execute("SELECT case_summary FROM cases").fetchall()
    conn.close()
    # Four seconds of saves (about 70): all but the last moments are in the main file.
    assert acknowledged > 40
    assert int(summary) > acknowledged // 2, (summary, acknowledged)


def test_the_checkpointer_stops_with_the_workspace(tmp_path):
    ws = Workspace.open(tmp_path / "d")
    checkpointer = ws.checkpointer
    assert isinstance(checkpointer, Checkpointer)
    ws.create_case("Jane", 30, "female")
    ws.close()
    assert not checkpointer._thread.is_alive()
    assert os.path.exists(ws.folder.cache)
