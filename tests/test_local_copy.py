"""Sign out offers to remove this computer's copy: what has not reached the server is listed
and discarded only when the person says so; then the cache, the documents and the keys go."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

from desktop import datafolder, folder_key, local_copy
from desktop.cli import main
from desktop.sync import runner
from desktop.workspace import Workspace
from tests import samples
from tests.signin import sign_in

NAME = "Wilhelmina Obuya-Castellanos"


def cli(data: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--data-dir", str(data), *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def used_folder(root: Path, tmp_path: Path, server_url: str) -> str:
    with Workspace.open(root) as ws:
        sign_in(ws, server_url, "doctor-1", "token-doctor-1")
        synced = ws.create_case("Synced Patient", 40, "male")
        assert runner.run_sync(ws).ok
        ws.create_case(NAME, 33, "female")  # never sent
        source = tmp_path / "scan.pdf"
        source.write_bytes(samples.big_pdf(2000))
        [attached] = ws.attach(synced.id, [source])
        assert attached.outcome == "attached", attached.reason
    return synced.id


def test_unsent_work_is_listed_and_kept_unless_discarded(reference_server, tmp_path: Path,
                                                          test_keychain) -> None:
    root = tmp_path / "data"
    used_folder(root, tmp_path, reference_server.url)
    record = folder_key.load_record(root)
    assert record is not None
    code, out, _ = cli(root, "logout", "--remove-local-copy")
    assert code == 1
    assert f"New case: {NAME}" in out and "Document to send" in out and "scan.pdf" in out
    assert "Nothing was signed out or removed" in out
    assert (root / "casedesk.sqlite3").exists() and any((root / "blobs").glob("??/*"))
    assert test_keychain.get_password(folder_key.SERVICE, record.folder_id)
    code, out, err = cli(root, "logout", "--remove-local-copy", "--discard-unsent")
    assert code == 0, err
    assert "copy was removed" in out
    left = sorted(p.name for p in root.iterdir())
    assert "casedesk.sqlite3" not in left and "keys.json" not in left and "blobs" not in left
    assert not any(p.name.startswith("casedesk.sqlite3") for p in root.iterdir())
    assert test_keychain.get_password(folder_key.SERVICE, record.folder_id) is None
    assert test_keychain.sign_ins() == {}
    with Workspace.open(root) as ws:  # a fresh start, not a refused "missing cache"
        assert ws.list_cases() == []


def test_nothing_unsent_removes_without_asking(reference_server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    with Workspace.open(root) as ws:
        sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
        ws.create_case(NAME, 33, "female")
        assert runner.run_sync(ws).ok
        assert ws.unsent_work() == []
    code, out, _ = cli(root, "logout", "--remove-local-copy")
    assert code == 0 and "copy was removed" in out
    assert not (root / "casedesk.sqlite3").exists()


def test_a_removal_killed_half_way_is_finished_by_the_next_start(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with Workspace.open(root) as ws:
        ws.create_case(NAME, 33, "female")
    folder = datafolder.prepare(root)
    pid = os.fork()
    if pid == 0:
        try:
            real = folder_key.forget

            def forget_then_die(path: Path) -> None:
                real(path)
                os.kill(os.getpid(), signal.SIGKILL)  # key gone, files still there

            local_copy.folder_key.forget = forget_then_die
            local_copy.remove(folder)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert local_copy.removal_pending(root) and (root / "casedesk.sqlite3").exists()
    with Workspace.open(root) as ws:
        assert ws.list_cases() == []
    assert not local_copy.removal_pending(root)
