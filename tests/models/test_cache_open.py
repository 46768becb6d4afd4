"""Opening the cache file: what it is decides what happens, before SQLite touches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop import datafolder
from desktop.errors import CacheError, CacheProblem
from desktop.models.database import create_cache, open_cache
from desktop.models.schema_version import HEAD_REVISION
from desktop.workspace import Workspace
from tests import cachefile
from tests.disk_faults import fill
from tests.models.test_migration_crash import OLDER, make_folder, schema_of, snapshot


def test_an_interrupted_first_start_of_an_earlier_release_is_set_aside_and_made_anew(
    tmp_path,
):
    """Earlier releases committed each CREATE on its own: a kill left tables without a
    revision, and every later start failed ("table cases already exists")."""
    root = tmp_path / "d"
    folder = datafolder.prepare(root)
    conn = cachefile.connect(folder.cache)
    conn.execute("CREATE TABLE cases (id TEXT PRIMARY KEY, patient_name TEXT)")
    conn.execute("CREATE TABLE sync_meta (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with Workspace.open(root) as ws:
        assert ws.create_case("Jane", 3, "female").patient_name == "Jane"
    assert schema_of(folder.cache)[0] == HEAD_REVISION
    assert len(list(root.glob("casedesk.sqlite3.incomplete-*"))) == 1  # moved, not deleted


def test_a_half_made_cache_with_cases_in_it_is_refused(tmp_path):
    folder = datafolder.prepare(tmp_path / "d")
    conn = cachefile.connect(folder.cache)
    conn.execute("CREATE TABLE cases (id TEXT PRIMARY KEY, patient_name TEXT)")
    conn.execute("INSERT INTO cases VALUES ('c1', 'Somebody')")
    conn.commit()
    conn.close()
    with pytest.raises(CacheError) as info:
        open_cache(folder.cache, folder.signs_of_use)
    assert info.value.problem is CacheProblem.EMPTY and "1 case(s) in it" in str(info.value)


def test_a_zero_length_cache_in_a_fresh_folder_is_a_first_start(tmp_path):
    folder = datafolder.prepare(tmp_path / "d")
    folder.cache.write_bytes(b"")
    engine, _ = open_cache(folder.cache, folder.signs_of_use)
    engine.dispose()
    assert schema_of(folder.cache)[0] == HEAD_REVISION


@pytest.mark.parametrize("sign", ["record", "blob", "sync", "wal"])
def test_a_zero_length_cache_beside_any_sign_of_use_is_refused_and_left_alone(tmp_path, sign):
    folder = datafolder.prepare(tmp_path / "d")
    folder.cache.write_bytes(b"")
    wal = Path(f"{folder.cache}-wal")
    if sign == "record":
        folder.write_record()
    elif sign == "blob":
        (folder.blobs / "ab").mkdir()
        (folder.blobs / "ab" / ("c" * 62)).write_bytes(b"x")
    elif sign == "sync":
        folder.lock.write_bytes(b"")
    else:
        wal.write_bytes(b"\x37\x7f\x06\x82" + b"\1" * 4000)
    with pytest.raises(CacheError) as info:
        open_cache(folder.cache, folder.signs_of_use)
    assert info.value.problem is CacheProblem.EMPTY and str(folder.cache) in str(info.value)
    assert folder.cache.stat().st_size == 0  # left as it was, never recreated over
    assert wal.exists() == (sign == "wal")


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    folder = datafolder.prepare(tmp_path / "d")
    folder.cache.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(CacheError) as info:
        open_cache(folder.cache, folder.signs_of_use)
    assert info.value.problem is CacheProblem.UNREADABLE


def test_a_new_cache_appears_only_whole(tmp_path):
    path = tmp_path / "c.sqlite3"
    create_cache(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.sqlite3"]
    assert path.stat().st_mode & 0o777 == 0o600
    assert schema_of(path)[0] == HEAD_REVISION


@pytest.mark.exhaustive
@pytest.mark.parametrize("revision", [None, *OLDER])
def test_running_out_of_space_at_any_point_of_a_first_start_or_upgrade(
    small_disk, revision
):
    """With 0, 4, 8, ... KiB free, a start either fails naming the full disk, leaving the
    old revision whole (or no cache), or upgrades; with space again, all work is there."""
    reference = make_folder(small_disk(8 * 1024) / "reference", revision)
    with Workspace.open(reference) as ws:
        expected = snapshot(ws)
    failures = 0
    for free_kib in range(0, 4096, 4):  # until a start has room enough
        disk = small_disk(8 * 1024)
        root = make_folder(disk / "d", revision)
        before = schema_of(root / "casedesk.sqlite3")
        filler = fill(disk, leave=free_kib * 1024)
        try:
            with Workspace.open(root):
                pass
        except CacheError as exc:
            assert exc.problem is CacheProblem.DISK_FULL, exc
            assert schema_of(root / "casedesk.sqlite3") == before
            failures += 1
            upgraded = False
        else:
            assert schema_of(root / "casedesk.sqlite3")[0] == HEAD_REVISION
            upgraded = True
        filler.unlink()
        with Workspace.open(root) as ws:
            assert snapshot(ws) == expected
        if upgraded:
            break
    assert failures > 0 and upgraded  # the sweep ran out of space, then had enough


def test_a_connection_that_committed_unflushed_is_flushing_again_before_reuse(tmp_path):
    """A transaction that skips its fsync (``transaction(flushed=False)``) never leaves its
    connection so for the next one."""
    with Workspace.open(tmp_path / "d") as ws:
        with ws.transaction(flushed=False) as s:
            raw = s.connection().connection.dbapi_connection
            assert raw.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        # The pool hands out the connection used last: the same one, flushing again.
        with ws.transaction() as s:
            again = s.connection().connection.dbapi_connection
            assert again is raw
            assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
