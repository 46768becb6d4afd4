"""Creating or upgrading the cache is all-or-nothing: a process killed before any statement of
a first start or of an upgrade leaves the old revision whole (and upgradable) or the new one,
and every unsynced change survives.

A forked child opens the data folder with a trace hook that counts SQLite statements and
kills the process with SIGKILL just before the k-th one; the parent then looks at the file
and opens the folder again. The exhaustive sweep (every statement of every path) runs in
``make test-slow``; the regular suite kills at a spread of points on each path.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from desktop import datafolder
from desktop.models.database import create_cache
from desktop.models.schema_version import HEAD_REVISION
from desktop.workspace import Workspace
from tests import cachefile

OLDER = ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008"]
STAMP = "2026-01-02 03:04:05.000000"

# Unsynced work of every kind, written as the older releases wrote it (their schema).
UNSYNCED = [
    "INSERT INTO cases (id, server_id, patient_name, patient_age, patient_gender, case_summary,"
    " status, created_at, updated_at, base, sync_state, detail_stale) VALUES"
    " ('c-new', NULL, 'Ada Local', 30, 'female', 'never sent', 'pending', :t, :t, NULL,"
    " 'pending', 1),"
    " ('c-edit', 'srv-1', 'Bo Edited', 41, 'male', 'edited here', 'pending', :t, :t,"
    " '{\"case_summary\": \"old\"}', 'pending', 0),"
    " ('c-conf', 'srv-2', 'Cy Conflict', 52, 'male', 'mine', 'pending', :t, :t,"
    " '{\"case_summary\": \"base\"}', 'conflict', 0)",
    "INSERT INTO documents (id, case_id, name, mime_type, size, sha256, category, state,"
    " added_at) VALUES ('d-1', 'c-edit', 'lab.pdf', 'application/pdf', 5, '" + "a" * 64 + "',"
    " 'lab', 'local_only', :t)",
    "INSERT INTO pending_changes (kind, case_id, document_id, fields, seq, state, attempts,"
    " in_flight, created_at, updated_at) VALUES"
    " ('create_case', 'c-new', NULL, NULL, 1, 'queued', 0, 0, :t, :t),"
    " ('update_case', 'c-edit', NULL, '[\"case_summary\"]', 3, 'queued', 1, 1, :t, :t),"
    " ('upload_document', 'c-edit', 'd-1', NULL, 1, 'parked', 2, 0, :t, :t)",
    "INSERT INTO conflicts (case_id, field, base_value, local_value, server_value, created_at)"
    " VALUES ('c-conf', 'case_summary', '\"base\"', '\"mine\"', '\"theirs\"', :t)",
    "INSERT INTO sync_meta (id, server_kind, server_url, user_id) VALUES"
    " (1, 'medmitra', 'https://cases.example.org', 'doctor-1')",
]


def make_folder(root: Path, revision: str | None) -> Path:
    """A data folder whose cache is at *revision* with unsynced work in it (None: no cache,
    a first start)."""
    folder = datafolder.prepare(root)
    if revision is not None:
        create_cache(folder.cache, target=revision)
        conn = cachefile.connect(folder.cache)
        with conn:
            for statement in UNSYNCED:
                conn.execute(statement, {"t": STAMP})
        conn.close()
    return root


def snapshot(ws: Workspace) -> dict[str, object]:
    """Everything a person would miss: cases, the outbox, conflicts, documents, the server."""
    with ws.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        return {
            table: sorted(raw.execute(f"SELECT {columns} FROM {table}").fetchall())
            for table, columns in {
                "cases": "id, server_id, patient_name, case_summary, base, sync_state",
                "pending_changes": "kind, case_id, document_id, fields, seq, state, attempts,"
                                   " in_flight",
                "conflicts": "case_id, field, base_value, local_value, server_value",
                "documents": "id, case_id, sha256, state",
                "sync_meta": "server_kind, server_url, user_id",
            }.items()
        }


def schema_of(cache: Path) -> tuple[str | None, list[tuple[str, str]]] | None:
    """(revision, every schema object) read without changing anything; None: no file."""
    if not cache.exists():
        return None
    conn = cachefile.connect(cache, read_only=True)
    try:
        objects = sorted(conn.execute("SELECT type, name FROM sqlite_master"))
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return (revision[0] if revision else None), objects
    finally:
        conn.close()


def run_killed(root: Path, kill_at: int | None) -> tuple[bool, int]:
    """Open the folder in a forked child, SIGKILLed just before its *kill_at*-th statement;
    (killed, statements run). ``kill_at=None`` counts the statements of a whole open."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            count = 0

            def trace(_statement: str) -> None:
                nonlocal count
                count += 1
                if count == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

            def hook(dbapi_connection: sqlite3.Connection, _record: object) -> None:
                dbapi_connection.set_trace_callback(trace)

            event.listen(Engine, "connect", hook)
            ws = Workspace(datafolder.prepare(root))
            ws.engine.dispose()  # no close(): a crash right after would not run it either
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


def check_path(tmp_path: Path, revision: str | None, points: list[int] | None) -> int:
    """Kill at each of *points* (None: every statement) on the path from *revision* to
    head; returns how many statements the path has."""
    template = make_folder(tmp_path / "template", revision)
    before = schema_of(template / "casedesk.sqlite3")
    expected_dir = tmp_path / "expected"
    shutil.copytree(template, expected_dir)
    _, total = run_killed(expected_dir, None)
    head = schema_of(expected_dir / "casedesk.sqlite3")
    assert head is not None and head[0] == HEAD_REVISION
    with Workspace.open(expected_dir) as ws:
        expected = snapshot(ws)
    if revision is not None:
        assert expected["pending_changes"] and expected["conflicts"]
    for k in points if points is not None else range(1, total + 1):
        trial = tmp_path / f"kill-{k}"
        shutil.copytree(template, trial)
        killed, _ = run_killed(trial, k)
        assert killed, f"statement {k} of {total} was never reached"
        found = schema_of(trial / "casedesk.sqlite3")
        assert found in (before, head), (
            f"killed before statement {k} of {total}: the cache is neither the old "
            f"revision nor the new one: {found}")
        with Workspace.open(trial) as ws:  # the next start: upgrades what is there
            assert schema_of(trial / "casedesk.sqlite3")[0] == HEAD_REVISION
            assert snapshot(ws) == expected, f"work changed after a kill at {k}"
        shutil.rmtree(trial)
    return total


def spread(total: int, count: int = 6) -> list[int]:
    return sorted({1 + (total - 1) * i // (count - 1) for i in range(count)})


@pytest.mark.parametrize("revision", [None, *OLDER])
def test_a_kill_at_points_of_a_first_start_or_upgrade_leaves_a_usable_cache(tmp_path, revision):
    template = make_folder(tmp_path / "count", revision)
    _, total = run_killed(template, None)
    check_path(tmp_path, revision, spread(total))


@pytest.mark.exhaustive
@pytest.mark.parametrize("revision", [None, *OLDER])
def test_a_kill_before_every_statement_of_a_first_start_or_upgrade(tmp_path, revision):
    total = check_path(tmp_path, revision, None)
    assert total > 10
