"""The blob store's upkeep: what a killed intake leaves goes at the next start, stored files no
row names are reclaimed (automatically and by ``casedesk gc``), and never a file an intake in
progress or any row still needs, in this process or another."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from desktop import intake
from desktop.models.tables import SyncState
from desktop.workspace import Workspace
from tests import samples
from tests.test_cli import run

PDF = samples.PDF  # a whole one-page PDF: intake checks that a file is whole


def temp_files(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.folder.blobs.glob(".tmp-*"))


def killed_mid_intake(root: Path, source: Path) -> None:
    """A forked child attaches *source* and is killed with SIGKILL after its first chunk."""
    pid = os.fork()
    if pid == 0:
        try:
            intake.CHUNK_BYTES = 64 * 1024
            original = intake._write_all

            def write_then_die(fd: int, data: memoryview) -> None:
                original(fd, data)
                os.kill(os.getpid(), signal.SIGKILL)

            intake._write_all = write_then_die  # type: ignore[assignment]
            ws = Workspace.open(root)
            case = ws.create_case("Jane", 30, "female")
            ws.attach(case.id, [source])
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_the_temp_file_of_a_killed_intake_goes_at_the_next_start(tmp_path):
    source = tmp_path / "scan.pdf"
    source.write_bytes(PDF + os.urandom(512 * 1024))
    killed_mid_intake(tmp_path / "d", source)
    left = list((tmp_path / "d" / "blobs").glob(".tmp-*"))
    assert len(left) == 1 and left[0].stat().st_size > 0  # minutes old, not an hour
    with Workspace.open(tmp_path / "d") as ws:
        assert temp_files(ws) == []
        assert list(ws.blobs.stored()) == []


def test_an_intake_under_way_elsewhere_keeps_its_temp_file_and_its_blob(tmp_path):
    """Another process is half-way through an intake: opening the folder, collecting, and
    ``casedesk gc`` all leave its files alone."""
    root = tmp_path / "d"
    Workspace.open(root).close()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            store = intake.BlobStore(root / "blobs")
            with store.writing():
                (root / "blobs" / ".tmp-in-progress").write_bytes(b"half")
                source = tmp_path / "new.pdf"
                source.write_bytes(PDF)
                store.ingest(source)  # stored, its row not yet written
                os.write(ready_w, b"1")
                os.read(go_r, 1)
        finally:
            os._exit(0)
    os.read(ready_r, 1)
    try:
        with Workspace.open(root) as ws:
            assert temp_files(ws) == [".tmp-in-progress"]
            assert ws.collect_garbage() is None
            assert len(list(ws.blobs.stored())) == 1
        code, out, _ = run(root, "gc")
        assert code == 1 and "under way" in out
    finally:
        os.write(go_w, b"1")
        os.waitpid(pid, 0)
    code, out, _ = run(root, "gc")  # opening swept the temp file; gc took the blob
    assert code == 0 and "1 stored document file(s) no case uses" in out
    assert list((root / "blobs").glob(".tmp-*")) == []


def test_gc_reclaims_only_what_no_row_names_and_says_how_much(tmp_path):
    root = tmp_path / "d"
    kept_file, orphan_file, removed_file = (tmp_path / n for n in ("a.pdf", "b.pdf", "c.pdf"))
    kept_file.write_bytes(PDF + b"kept")
    orphan_file.write_bytes(PDF + b"x" * 10_000)
    removed_file.write_bytes(PDF + b"remote")
    with Workspace.open(root) as ws:
        kept = ws.create_case("Kept", 30, "female")
        ws.attach(kept.id, [kept_file])
        gone = ws.create_case("Removed On Server", 40, "male")
        ws.attach(gone.id, [removed_file])
        orphan = ws.blobs.ingest(orphan_file)  # as an intake killed between its copy and its row
        orphan_bytes = orphan.path.stat().st_size  # as stored: sealed, a little larger
        with ws.transaction() as s:  # a case deleted on the server but kept: a tombstone
            from desktop.models.tables import Case

            s.get(Case, gone.id).sync_state = SyncState.REMOVED_REMOTELY
        assert len(list(ws.blobs.stored())) == 3
        (ws.folder.blobs / ".collected").touch()  # not this close: gc is under test
    code, out, err = run(root, "gc")
    assert code == 0, err
    assert f"Reclaimed {orphan_bytes / 1024:.1f} KiB" in out
    assert "1 stored document file(s) no case uses" in out and "2 stored" in out
    with Workspace.open(root) as ws:
        assert len(list(ws.blobs.stored())) == 2
        for doc in ws.documents(kept.id) + ws.documents(gone.id):
            assert ws.stored_bytes(doc) is not None


def test_a_blob_between_its_copy_and_its_row_is_never_collected(tmp_path):
    """The collector runs while an intake in this process has stored its bytes but not yet
    written its row: it waits its turn and the document keeps its file."""
    with Workspace.open(tmp_path / "d") as ws:
        case = ws.create_case("Jane", 30, "female")
        source = tmp_path / "scan.pdf"
        source.write_bytes(PDF)
        stored, release = threading.Event(), threading.Event()
        original = ws._record_attached

        def slow_record(*args):  # type: ignore[no-untyped-def]
            stored.set()
            release.wait(10)
            return original(*args)

        ws._record_attached = slow_record  # type: ignore[method-assign]
        worker = threading.Thread(target=ws.attach, args=(case.id, [source]))
        worker.start()
        assert stored.wait(10)
        assert ws.collect_garbage() is None  # an intake is under way: nothing removed
        release.set()
        worker.join(10)
        [doc] = ws.documents(case.id)
        assert ws.stored_bytes(doc) is not None
        assert ws.collect_garbage().blobs == 0


def test_collection_runs_on_its_own_after_a_sync_and_at_close(tmp_path, reference_server,
                                                             memory_keyring):
    from desktop.sync import runner
    from tests.signin import sign_in

    orphan = tmp_path / "o.pdf"
    orphan.write_bytes(PDF + b"orphan")
    with Workspace.open(tmp_path / "d") as ws:
        sign_in(ws, reference_server.url)
        ws.blobs.ingest(orphan)
        assert runner.run_sync(ws).ok
        assert list(ws.blobs.stored()) == []  # reclaimed after the sync
        ws.blobs.ingest(orphan)
        (ws.folder.blobs / ".collected").unlink()
    with Workspace.open(tmp_path / "d") as ws:  # the close above collected
        assert list(ws.blobs.stored()) == []
