"""A full disk, a read-only folder or file, a damaged, empty or missing cache, a log that
cannot be written: each ends in one clear line naming the file and what to do (exit 1, no
traceback), reads keep working where they can, and nothing claims that nothing was lost
unless that was checked.

The command line runs as its own process, on a real small file system where a disk must be
full or read-only (tests/disk_faults.py).
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from desktop import cli
from desktop.workspace import Workspace
from tests import cachefile, samples
from tests.disk_faults import casedesk, fill, remount_read_only

PDF = samples.PDF  # a whole one-page PDF: intake checks that a file is whole
NO_CLAIM = "nothing was lost"


def seed(data: Path, tmp_path: Path, cases: int = 3) -> list[str]:
    """A folder with cases, an attached file and queued work; the case ids."""
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(PDF)
    with Workspace.open(data) as ws:
        ids = [ws.create_case(f"Patient {i}", 30 + i, "female", f"note {i}").id
               for i in range(cases)]
        ws.attach(ids[0], [scan])
    return ids


def corrupt(cache: Path, table: str, pages: int = 1) -> list[int]:
    """Damage *pages* leaf pages of *table* (the cache's b-tree says which pages hold it);
    the page numbers."""
    leaves = sorted(cachefile.leaf_pages(cache, table))
    chosen = leaves[len(leaves) // 2:][:pages] if len(leaves) > 1 else leaves
    cachefile.damage_pages(cache, chosen)
    return chosen


def test_full_disk_each_command_says_so_in_one_line_and_reads_still_work(
    small_disk, tmp_path
):
    disk = small_disk(6 * 1024)
    data = disk / "data"
    ids = seed(data, tmp_path)
    other = tmp_path / "other.pdf"
    other.write_bytes(PDF + b"another")
    filler = fill(disk)
    for args in (["cases", "new", "--name", "New", "--age", "3", "--gender", "male"],
                 ["cases", "edit", ids[1], "--summary", "changed"],
                 ["gc"]):
        run = casedesk(data, *args)
        assert run.code == 1 and run.one_line_error, (args, run)
        assert "is full" in run.err and str(data / "casedesk.sqlite3") in run.err
        assert "Free some space" in run.err and NO_CLAIM not in run.err
    run = casedesk(data, "attach", ids[1], str(other))
    assert run.code == 1 and "Traceback" not in run.err + run.out
    assert "the disk is full" in run.out
    for args in (["cases", "list"], ["pending"], ["cases", "show", ids[0]], ["conflicts"]):
        run = casedesk(data, *args)
        assert run.code == 0 and run.err == "", (args, run)
    assert "Patient 0" in casedesk(data, "cases", "list").out
    filler.unlink()
    with Workspace.open(data) as ws:  # space again: everything as before, nothing half-done
        assert [c.patient_name for c in ws.list_cases()] == ["Patient 2", "Patient 1",
                                                               "Patient 0"]
        assert ws.get_case(ids[1]).case_summary == "note 1"
        assert len(ws.pending()) == 4
        assert len(ws.documents(ids[1])) == 0


def test_read_only_folder_reads_work_and_changes_say_why_not(small_disk, tmp_path):
    disk = small_disk(8 * 1024)
    data = disk / "data"
    ids = seed(data, tmp_path)
    remount_read_only(disk)
    for args in (["cases", "list"], ["cases", "show", ids[0]], ["pending"], ["conflicts"],
                 ["check"]):
        run = casedesk(data, *args)
        assert run.code == 0 and run.err == "", (args, run)
    assert "Patient 1" in casedesk(data, "cases", "list").out
    run = casedesk(data, "cases", "edit", ids[0], "--age", "44")
    assert run.code == 1 and run.one_line_error, run
    assert "read-only" in run.err and str(data / "casedesk.sqlite3") in run.err
    assert "writable" in run.err and NO_CLAIM not in run.err
    run = casedesk(data, "repair")
    assert run.code == 1 and run.one_line_error and "read-only" in run.err


def test_read_only_cache_file_reads_work_and_changes_say_why_not(tmp_path, read_only_file):
    data = tmp_path / "data"
    ids = seed(data, tmp_path)
    read_only_file(data / "casedesk.sqlite3")
    run = casedesk(data, "cases", "list")
    assert run.code == 0 and "Patient 2" in run.out and run.err == ""
    run = casedesk(data, "cases", "new", "--name", "New", "--age", "3", "--gender", "male")
    assert run.code == 1 and run.one_line_error, run
    assert "read-only" in run.err and str(data / "casedesk.sqlite3") in run.err
    assert casedesk(data, "cases", "show", ids[0]).code == 0


def test_damaged_outbox_is_refused_at_start_checked_and_repaired(tmp_path):
    data = tmp_path / "data"
    with Workspace.open(data) as ws:
        for i in range(400):
            ws.create_case(f"Patient {i}", i % 90, "female", "note " * 20)
    corrupt(data / "casedesk.sqlite3", "pending_changes")
    run = casedesk(data, "cases", "list")
    assert run.code == 1 and run.one_line_error, run
    assert "damaged" in run.err and "casedesk repair" in run.err and NO_CLAIM not in run.err
    assert str(data / "casedesk.sqlite3") in run.err
    run = casedesk(data, "check")
    assert run.code == 1 and "damaged" in run.out and "casedesk repair" in run.out
    run = casedesk(data, "repair")
    assert run.code == 0, run
    assert "moved aside" in run.out and "Recovered:" in run.out and "Lost" in run.out
    assert casedesk(data, "check").code == 0
    with Workspace.open(data) as ws:
        # Every case came back; each queued create that was on a damaged page is queued
        # again (as if sent once: the server is asked first).
        assert ws.count_cases() == 400
        assert len(ws.pending()) == 400


def test_a_damaged_page_read_later_is_named_not_unexpected(tmp_path):
    data = tmp_path / "data"
    with Workspace.open(data) as ws:
        ids = [ws.create_case(f"Patient {i}", i % 90, "female", "note " * 20).id
               for i in range(400)]
    corrupt(data / "casedesk.sqlite3", "cases")  # not among the tables checked at start
    run = casedesk(data, "cases", "list", "--all")
    assert run.code == 1 and run.one_line_error, run
    assert "damaged" in run.err and "casedesk check" in run.err
    assert NO_CLAIM not in run.err and "unexpected" not in run.err
    run = casedesk(data, "repair")
    assert run.code == 0 and "at least" in run.out, run  # says how much could not be read
    with Workspace.open(data) as ws:
        kept = {c.id for c in ws.list_cases()}
        assert 0 < len(kept) < 400 and len(kept & set(ids)) > 300
        assert {r.case_id for r in ws.pending()} == kept  # each one's create queued again


def test_zero_length_cache_in_a_used_folder_is_refused_and_repair_says_what_was_lost(
    tmp_path,
):
    data = tmp_path / "data"
    seed(data, tmp_path)
    cache = data / "casedesk.sqlite3"
    cache.write_bytes(b"")
    wal = Path(f"{cache}-wal")
    wal.write_bytes(b"\x37\x7f\x06\x82" + b"\0" * 60)  # a log left by the lost cache
    for args in (["cases", "list"], ["pending"], ["cases", "new", "--name", "A", "--age", "1",
                                                 "--gender", "male"]):
        run = casedesk(data, *args)
        assert run.code == 1 and run.one_line_error, (args, run)
        assert "is empty" in run.err and "casedesk repair" in run.err and str(cache) in run.err
    assert cache.stat().st_size == 0 and wal.exists()  # not recreated over, log kept
    run = casedesk(data, "repair")
    assert run.code == 0, run
    assert "Nothing could be read" in run.out and "lost" in run.out
    assert "1 stored document(s)" in run.out
    [recovered] = list(data.glob("recovered-files-*/*.pdf"))
    assert recovered.read_bytes() == PDF
    run = casedesk(data, "cases", "list")
    assert run.code == 0 and "No cases match." in run.out


def test_missing_cache_in_a_used_folder_is_refused(tmp_path):
    data = tmp_path / "data"
    seed(data, tmp_path)
    (data / "casedesk.sqlite3").unlink()
    run = casedesk(data, "cases", "list")
    assert run.code == 1 and run.one_line_error and "is missing" in run.err
    assert not (data / "casedesk.sqlite3").exists()


def test_a_log_that_cannot_be_written_never_reaches_the_person(tmp_path, small_disk):
    data = tmp_path / "data"
    ids = seed(data, tmp_path)
    logs = data / "logs"
    log_file = logs / "casedesk.log"
    log_file.unlink(missing_ok=True)
    # The logs on a disk of their own that is full: every write "No space left on device".
    # (Not a link to /dev/full: the data folder refuses links, see test_data_folder_trust.)
    disk = small_disk(64)
    subprocess.run(["mount", "--bind", str(disk), str(logs)], check=True)
    try:
        fill(logs)
        for args in (["cases", "list"], ["cases", "edit", ids[0], "--age", "50"], ["pending"]):
            run = casedesk(data, "-v", *args)
            assert run.code == 0 and run.err == "", (args, run)
    finally:
        subprocess.run(["umount", "-l", str(logs)], check=True)
    log_file.unlink(missing_ok=True)
    log_file.mkdir()  # cannot even be opened
    run = casedesk(data, "cases", "list")
    assert run.code == 0 and run.err == "" and "Patient 0" in run.out


def test_a_read_only_log_file_never_reaches_the_person(tmp_path, read_only_file):
    data = tmp_path / "data"
    ids = seed(data, tmp_path)
    log_file = data / "logs" / "casedesk.log"
    casedesk(data, "cases", "edit", ids[1], "--age", "52")  # the log file exists
    assert log_file.stat().st_size > 0
    read_only_file(log_file)
    for args in (["cases", "list"], ["cases", "edit", ids[0], "--age", "51"], ["pending"]):
        run = casedesk(data, *args)
        assert run.code == 0 and run.err == "", (args, run)


def test_an_unexpected_error_claims_nothing_about_the_data(tmp_path, monkeypatch):
    def broken(ws, args, out):
        raise RuntimeError("surprise")

    monkeypatch.setattr(cli, "cmd_pending", broken)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--data-dir", str(tmp_path / "d"), "pending"], out=out, err=err)
    assert code == 1 and "unexpected" in err.getvalue()
    assert NO_CLAIM not in err.getvalue() and err.getvalue().count("\n") == 1


@pytest.mark.skipif(os.name == "nt", reason="POSIX file systems")
def test_reads_on_a_full_disk_see_the_newest_commits(small_disk, tmp_path):
    """Reading a full disk's cache read-only still reads what is in its write-ahead log."""
    disk = small_disk(6 * 1024)
    data = disk / "data"
    seed(data, tmp_path)
    with Workspace.open(data) as ws:
        ws.create_case("Only In The Log", 70, "male")
        fill(disk)
        run = casedesk(data, "cases", "list")
    assert run.code == 0 and "Only In The Log" in run.out, run


def test_the_lists_whole_reads_work_on_a_read_only_cache(tmp_path, read_only_file):
    """The full id list and the whole-file check go through a connection of their own
    (Workspace._scanning): it opens the cache as the shared ones do, read-only where the
    file cannot be written."""
    from desktop.workspace import CaseQuery

    data = tmp_path / "data"
    seed(data, tmp_path)
    read_only_file(data / "casedesk.sqlite3")
    with Workspace.open(data) as ws:
        assert ws.read_only is not None
        assert len(ws.case_ids(CaseQuery())) == 3
        assert ws.case_ids(CaseQuery(search="pa")) == ws.case_ids(CaseQuery(search="pa"),
                                                                  limit=256)
        assert ws.check_pages() is None
