"""Local edit + outbox commit latency, encrypted (SQLCipher) and not in the same run, beside a
raw sqlite3 floor with the same pragmas.

Each Workspace.edit_case is one transaction (case row + coalesced outbox row, fsynced). The
baseline does the same two writes with bare sqlite3, so the ratio shows what the ORM and
validation cost on top of the disk.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from bench.measure import memory_keychain, pct
from desktop.models.tables import Case, PendingChange
from desktop.workspace import Workspace


def measure_workspace(root: Path, edits: int, encrypted: bool = True) -> list[float]:
    from desktop import datafolder

    name = "ws" if encrypted else "plain"
    with Workspace(datafolder.prepare(root / name), encrypted=encrypted) as ws:
        ids = [ws.create_case(f"Patient {i}", 30 + i % 50, "female").id for i in range(100)]
        with ws.transaction() as s:  # as after a sync: on the server, outbox empty
            for case in s.scalars(select(Case)):
                case.server_id, case.sync_state = "srv-" + case.id, "synced"
            for row in s.scalars(select(PendingChange)):
                s.delete(row)
        timings = []
        for i in range(edits):
            start = time.perf_counter()
            ws.edit_case(ids[i % len(ids)], case_summary=f"note revision {i}")
            timings.append(time.perf_counter() - start)
        return timings


def measure_sqlite_floor(root: Path, edits: int) -> list[float]:
    conn = sqlite3.connect(root / "raw.sqlite3", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("CREATE TABLE c (id TEXT PRIMARY KEY, summary TEXT, updated TEXT)")
    conn.execute("CREATE TABLE o (id INTEGER PRIMARY KEY, case_id TEXT UNIQUE, seq INT)")
    conn.executemany("INSERT INTO c VALUES (?, '', '')", [(str(i),) for i in range(100)])
    timings = []
    for i in range(edits):
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("UPDATE c SET summary=?, updated=datetime() WHERE id=?", (f"n{i}", str(i % 100)))
        conn.execute(
            "INSERT INTO o (case_id, seq) VALUES (?, 1) "
            "ON CONFLICT(case_id) DO UPDATE SET seq = seq + 1",
            (str(i % 100),),
        )
        conn.execute("COMMIT")
        timings.append(time.perf_counter() - start)
    conn.close()
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.edits")
    parser.add_argument("--edits", type=int, default=1000)
    args = parser.parse_args(argv)
    memory_keychain()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = measure_workspace(root, args.edits)
        plain = measure_workspace(root, args.edits, encrypted=False)
        raw = measure_sqlite_floor(root, args.edits)
    ms = 1000.0
    print(f"local edit + outbox commit, {args.edits} edits (synchronous=FULL, WAL)")
    print(f"  workspace, encrypted   p50 {statistics.median(ws) * ms:6.2f} ms   "
          f"p95 {pct(ws, .95) * ms:6.2f} ms   max {max(ws) * ms:6.2f} ms   (target p95 <= 5 ms)")
    print(f"  workspace, unencrypted p50 {statistics.median(plain) * ms:6.2f} ms   "
          f"p95 {pct(plain, .95) * ms:6.2f} ms   max {max(plain) * ms:6.2f} ms")
    print(f"  raw sqlite3 p50 {statistics.median(raw) * ms:6.2f} ms   p95 {pct(raw, .95) * ms:6.2f} ms")
    print(f"  ratio p95 workspace/raw = {pct(ws, .95) / pct(raw, .95):.2f}   "
          f"encrypted/unencrypted = {pct(ws, .95) / pct(plain, .95):.2f}")


if __name__ == "__main__":
    main()
