"""The first start of this release converts an earlier release's unencrypted data folder (cache
and stored documents) with every unsynced change kept; killed at any point, the next start
finishes or restarts the conversion and nothing is lost.

A forked child opens the folder with hooks on every step that touches the disk (each SQLite
statement, each encrypted document segment written, each rename, removal and fsync) and
SIGKILLs itself just before the k-th; the parent then opens the folder again and compares
everything with a conversion that was not interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from desktop import blob_seal, datafolder, folder_key
from desktop.models import cache_encryption, database
from desktop.workspace import Workspace
from tests import cachefile, samples

PLANTED_NAME = "Zephyrine Quillfeather"
PLANTED_NOTE = "unsynced note 7f3a about the biopsy"


def make_plain_folder(root: Path, tmp_path: Path) -> dict[str, bytes]:
    """An earlier release's folder: a plain cache with unsynced work and plain blobs
    (one larger than a segment); the documents' bytes by SHA-256."""
    contents: dict[str, bytes] = {}
    with Workspace(datafolder.prepare(root), encrypted=False) as ws:
        new = ws.create_case(PLANTED_NAME, 61, "female", case_summary=PLANTED_NOTE)
        other = ws.create_case("Bo Edited", 41, "male")
        ws.edit_case(other.id, case_summary="edited, never sent")
        files = []
        for name, data in (("lab.pdf", samples.big_pdf(3 * blob_seal.SEGMENT + 77)),
                           ("note.txt", f"{PLANTED_NOTE}\n".encode())):
            path = tmp_path / name
            path.write_bytes(data)
            files.append(path)
        for result in ws.attach(new.id, files):
            assert result.document is not None
            contents[result.document.sha256] = (tmp_path / result.path.name).read_bytes()
    assert cachefile.plain(root / "casedesk.sqlite3")
    assert folder_key.load_record(root) is None
    return contents


def snapshot(ws: Workspace) -> dict[str, object]:
    with ws.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        return {
            table: sorted(raw.execute(f"SELECT {columns} FROM {table}").fetchall())
            for table, columns in {
                "cases": "id, patient_name, case_summary, sync_state",
                "pending_changes": "kind, case_id, document_id, fields, seq, state",
                "documents": "id, case_id, sha256, state, name",
            }.items()
        }


def documents_read_back(ws: Workspace, contents: dict[str, bytes]) -> None:
    for sha, data in contents.items():
        assert ws.blobs.ref(sha).read() == data
        stored = ws.blobs.path_for(sha)
        assert stored.name != sha[2:] and data[:64] not in stored.read_bytes()


def run_killed(root: Path, kill_at: int | None) -> tuple[bool, int]:
    """Open the folder in a forked child, SIGKILLed just before its *kill_at*-th step."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            count = 0

            def step() -> None:
                nonlocal count
                count += 1
                if count == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

            def traced(connect):
                def wrapper(*args, **kwargs):
                    conn = connect(*args, **kwargs)
                    conn.set_trace_callback(lambda _s: step())
                    return conn
                return wrapper

            def before(fn):
                def wrapper(*args, **kwargs):
                    step()
                    return fn(*args, **kwargs)
                return wrapper

            event.listen(Engine, "connect",
                         lambda c, _r: c.set_trace_callback(lambda _s: step()))
            cache_encryption.connect = traced(cache_encryption.connect)
            database.connect = traced(database.connect)
            blob_seal.Sealer._seal = before(blob_seal.Sealer._seal)  # mid-document
            os.replace = before(os.replace)
            os.unlink = before(os.unlink)
            os.fsync = before(os.fsync)
            ws = Workspace(datafolder.prepare(root))
            ws.engine.dispose()
            os.write(write, str(count).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        reported = pipe.read()
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert killed or reported, f"child failed without being killed (status {status})"
    return killed, int(reported or kill_at or 0)


def test_an_unencrypted_folder_is_converted_with_its_unsynced_work(tmp_path: Path) -> None:
    root = tmp_path / "data"
    contents = make_plain_folder(root, tmp_path)
    with Workspace(datafolder.prepare(root), encrypted=False) as plain:
        before = snapshot(plain)
    assert before["pending_changes"]
    with Workspace.open(root) as ws:
        assert snapshot(ws) == before
        documents_read_back(ws, contents)
        assert ws.pending_count() == len(before["pending_changes"])
    cache = root / "casedesk.sqlite3"
    assert not cachefile.plain(cache)
    raw = cache.read_bytes()
    assert PLANTED_NAME.encode() not in raw and PLANTED_NOTE.encode() not in raw
    for path in (root / "blobs").glob("??/*"):
        if path.is_file():
            assert path.read_bytes().startswith(blob_seal.MAGIC)
            assert path.parent.name + path.name not in contents  # names say nothing
    record = folder_key.load_record(root)
    assert record is not None and record.blobs_sealed


@pytest.mark.parametrize("points", [12])
def test_a_conversion_killed_at_many_points_loses_nothing(tmp_path: Path, points: int) -> None:
    template = tmp_path / "template"
    contents = make_plain_folder(template, tmp_path)
    reference = tmp_path / "reference"
    shutil.copytree(template, reference)
    with Workspace(datafolder.prepare(reference), encrypted=False) as plain:
        expected = snapshot(plain)
    _, total = run_killed(reference, None)
    assert total > 20
    kills = sorted({1 + (total - 1) * i // (points - 1) for i in range(points)}
                   | set(range(1, 6)))
    reached = 0
    for k in kills:
        trial = tmp_path / f"kill-{k}"
        shutil.copytree(template, trial)
        killed, _ = run_killed(trial, k)
        reached += killed
        with Workspace.open(trial) as ws:  # the next start finishes or restarts it
            assert snapshot(ws) == expected, f"work changed after a kill at step {k}/{total}"
            documents_read_back(ws, contents)
        assert not cachefile.plain(trial / "casedesk.sqlite3")
        leftovers = [p.name for p in trial.iterdir() if p.name.endswith(".encrypting")]
        assert leftovers == []
        shutil.rmtree(trial)
    assert reached >= len(kills) - 1


@pytest.mark.exhaustive
def test_a_conversion_killed_before_every_step_loses_nothing(tmp_path: Path) -> None:
    template = tmp_path / "template"
    contents = make_plain_folder(template, tmp_path)
    reference = tmp_path / "reference"
    shutil.copytree(template, reference)
    with Workspace(datafolder.prepare(reference), encrypted=False) as plain:
        expected = snapshot(plain)
    _, total = run_killed(reference, None)
    for k in range(1, total + 1):
        trial = tmp_path / f"kill-{k}"
        shutil.copytree(template, trial)
        run_killed(trial, k)
        with Workspace.open(trial) as ws:
            assert snapshot(ws) == expected, f"work changed after a kill at step {k}/{total}"
            documents_read_back(ws, contents)
        shutil.rmtree(trial)
