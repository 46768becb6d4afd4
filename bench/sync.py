"""Sync pull + merge of 10,000 cases and a 1 GiB upload, each beside a same-run baseline.

Both parts talk real HTTP to the reference server running as a subprocess (its own GIL), so
the client and the floor pay the same server cost and the ratio shows the client's own work.

Pull: the floor is ``httpx.Client.get`` of ``/cases/all_cases`` plus ``json.loads``, with the
client made before the clock starts as the engine's is. The engine runs with
``detail_limit=0`` and ``watch_limit=0``: refreshing files/insights is a separate per-case GET
step (one request per stale or recently active case), not part of pull + merge; the default limit is shown once for reference. A floor
run precedes every engine run and the ratio is taken per pair (the machine is shared: noise
then hits both alike). Target: engine/floor <= 1.5 for first sync, steady state and a 1%
change. An informational line gives a second floor for the first sync: SQLite alone writing
the same rows (pre-built) into the same migrated schema, indexes built after the rows and the
search index filled in one statement: no first sync that stores the rows can beat floor + it.

Upload: the floor is ``curl -F`` of the same file. ``MedMitraClient.upload_file`` runs in a
fresh child process so its peak RSS growth (VmHWM after - before, imports excluded) measures
the upload alone. Targets: client/curl throughput >= 0.8, RSS growth <= 64 MiB.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.measure import cpu_model, generate, memory_keychain, quiesce, vm_hwm_kib, warm
from desktop import datafolder
from desktop.cli import sync_summary
from desktop.models.tables import CASE_FIELDS
from desktop.sync.medmitra.client import MedMitraClient
from desktop.sync.medmitra.engine import MedMitraEngine
from desktop.sync.outbox import OutboxEngine
from desktop.sync.report import SyncReport
from desktop.workspace import Workspace
from tests.server.control import REPO_ROOT, ReferenceServer

TOKEN = "token-doctor-1"
USER = "doctor-1"
EDITED_SHARE = 0.01
# The engine's own defaults (declared by the shared engine every server kind builds on).
_ENGINE_DEFAULTS = inspect.signature(OutboxEngine.__init__).parameters
DEFAULT_DETAIL_LIMIT: int = _ENGINE_DEFAULTS["detail_limit"].default
DEFAULT_WATCH_LIMIT: int = _ENGINE_DEFAULTS["watch_limit"].default


# ---------------------------------------------------------------- shared




def _cpus() -> int:
    """What `nproc` prints: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0))




def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


# ---------------------------------------------------------------- pull + merge


def _floor_pull(url: str, cases: int) -> tuple[float, bytes]:
    """One raw GET + json.loads of the whole list: what any client must at least pay.

    The client is made before the clock starts, as the engine's is: making one loads the CA
    bundle (~25 ms here), which a bare ``httpx.get`` would add to the floor alone. The parsed
    list is released inside the clock, as the engine releases its own before returning."""
    with httpx.Client(timeout=120.0) as client:
        start = time.perf_counter()
        resp = client.get(f"{url}/cases/all_cases?user_id={USER}",
                          headers={"Authorization": f"Bearer {TOKEN}"})
        resp.raise_for_status()
        count = len(json.loads(resp.content)["cases"])
        seconds = time.perf_counter() - start
    if count != cases:
        raise RuntimeError(f"server listed {count} cases, expected {cases}")
    return seconds, resp.content


def _floor_insert(data_dir: Path, listed: list[dict[str, Any]], bare_table: bool = False,
                  encrypted: bool = False) -> float:
    """The same rows as a first sync writes, already built as tuples (outside the clock), by
    bare sqlite3 into the same migrated schema and pragmas, the list indexes built after the
    rows and the search index filled in one statement as ``insert_cases`` does: what SQLite
    alone takes to hold 10,000 new cases durably, listed and searchable, in this schema.
    ``bare_table``: the table and its two unique keys only, no list or search index at all.
    ``encrypted``: the same statements on the encrypted cache as the app opens it (SQLCipher:
    every page encrypted as it is written), in one of its write transactions."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = [
        (str(uuid.uuid4()), c["case_id"], c.get("id"), c["patient_name"], c["patient_age"],
         c["patient_gender"], c["case_summary"], c["status"], now, now, c["created_at"],
         c["updated_at"], json.dumps({k: c.get(k) for k in CASE_FIELDS}), "synced", None, None,
         1)
        for c in listed
    ]
    if encrypted:
        with Workspace.open(data_dir) as ws:
            with ws.transaction() as s:
                start = time.perf_counter()
                _bare_writes(s.connection().connection.dbapi_connection, rows, bare_table)
            return time.perf_counter() - start
    with Workspace(datafolder.prepare(data_dir), encrypted=False) as ws:  # a plain file
        cache = ws.folder.cache
    conn = sqlite3.connect(cache, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        start = time.perf_counter()
        conn.execute("BEGIN")
        _bare_writes(conn, rows, bare_table)
        conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def _bare_writes(conn: Any, rows: list[tuple[Any, ...]], bare_table: bool) -> None:
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' "
        "AND sql IS NOT NULL").fetchall()
    conn.execute("DROP TRIGGER cases_search_insert")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.executemany(
        "INSERT INTO cases (id, server_id, numeric_id, patient_name, patient_age, "
        "patient_gender, case_summary, status, created_at, updated_at, server_created_at, "
        "server_updated_at, base, sync_state, sync_error, ai_insights, detail_stale) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    if not bare_table:
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("INSERT INTO cases_search(rowid, patient_name, case_summary) "
                     "SELECT rowid, patient_name, coalesce(case_summary, '') FROM cases")


def _timed_sync(ws: Workspace, url: str, detail_limit: int) -> tuple[float, SyncReport]:
    """One engine run with a fresh client, as a sync run in the app makes one."""
    with MedMitraClient(url, TOKEN, USER) as client:
        # The per-case refresh (case details, and recently active cases looked at in turn)
        # is one GET per case: off with detail_limit=0, as the docstring says.
        engine = MedMitraEngine(ws, client, sleep=lambda _: None, detail_limit=detail_limit,
                                watch_limit=DEFAULT_WATCH_LIMIT if detail_limit else 0)
        start = time.perf_counter()
        report = engine.run()
        seconds = time.perf_counter() - start
    if not report.ok:
        raise RuntimeError(f"sync failed: {sync_summary(report)}")
    return seconds, report


def _expect(report: SyncReport, new: int, changed: int) -> None:
    if (report.pulled_new, report.pulled_changed) != (new, changed):
        raise RuntimeError(f"expected {new} new / {changed} changed, got: {sync_summary(report)}")


@dataclass
class PullFigures:
    """Engine runs, each beside the floor run made just before it (index for index)."""

    floor: list[float] = field(default_factory=list)
    first: list[tuple[float, float]] = field(default_factory=list)
    first_plain: list[tuple[float, float]] = field(default_factory=list)  # unencrypted cache
    insert_floor: list[float] = field(default_factory=list)
    insert_floor_encrypted: list[float] = field(default_factory=list)  # SQLCipher alone
    table_floor: list[float] = field(default_factory=list)
    steady: list[tuple[float, float]] = field(default_factory=list)
    edited: list[tuple[float, float]] = field(default_factory=list)
    first_default_detail: float = 0.0


def measure_pull(root: Path, cases: int, repeat: int, pairs: int) -> PullFigures:
    """Each engine run is preceded by a floor run, so a busy shared machine hits both alike;
    a ratio is taken per pair. First syncs (seconds of set-up each) run *repeat* times, the
    steady and 1% syncs *pairs* times: one GET's time varies by a third from run to run."""
    figures = PullFigures()

    def floor() -> bytes:
        seconds, body = _floor_pull(server.url, cases)
        figures.floor.append(seconds)
        return body

    def paired(seconds: float) -> tuple[float, float]:
        return figures.floor[-1], seconds

    with ReferenceServer.start_process(root / "server") as server:
        ids = server.seed_cases(USER, cases)
        _floor_pull(server.url, cases)  # warm the server's page cache and code paths

        for i in range(repeat):
            listed = json.loads(floor())["cases"]  # for the bare writes, outside any clock
            figures.insert_floor.append(_floor_insert(root / f"raw-{i}", listed))
            figures.table_floor.append(_floor_insert(root / f"table-{i}", listed, True))
            figures.insert_floor_encrypted.append(
                _floor_insert(root / f"sealed-{i}", listed, encrypted=True))
            for name in ("raw", "table", "sealed"):
                shutil.rmtree(root / f"{name}-{i}")
            floor()
            with Workspace.open(root / f"first-{i}") as ws:
                seconds, report = _timed_sync(ws, server.url, detail_limit=0)
                _expect(report, cases, 0)
                figures.first.append(paired(seconds))
            if i < repeat - 1:
                shutil.rmtree(root / f"first-{i}")
            floor()
            with Workspace(datafolder.prepare(root / f"plain-{i}"), encrypted=False) as ws:
                seconds, report = _timed_sync(ws, server.url, detail_limit=0)
                _expect(report, cases, 0)
                figures.first_plain.append(paired(seconds))
            shutil.rmtree(root / f"plain-{i}")

        filled = root / f"first-{repeat - 1}"
        with Workspace.open(filled) as ws:
            for _ in range(pairs):
                floor()
                seconds, report = _timed_sync(ws, server.url, detail_limit=0)
                _expect(report, 0, 0)
                figures.steady.append(paired(seconds))
            chosen = ids[:: max(1, round(1 / EDITED_SHARE))]
            for r in range(pairs):
                for n, case_id in enumerate(chosen):
                    server.edit_case(case_id, case_summary=f"Edited on the server, round {r} #{n}")
                floor()
                seconds, report = _timed_sync(ws, server.url, detail_limit=0)
                _expect(report, 0, len(chosen))
                figures.edited.append(paired(seconds))
        shutil.rmtree(filled)

        with Workspace.open(root / "first-default") as ws:
            seconds, report = _timed_sync(ws, server.url, detail_limit=DEFAULT_DETAIL_LIMIT)
            _expect(report, cases, 0)
            figures.first_default_detail = seconds
        shutil.rmtree(root / "first-default")
    return figures


def report_pull(figures: PullFigures, cases: int, repeat: int, pairs: int) -> None:
    floor = statistics.median(figures.floor)
    edited = max(1, round(cases * EDITED_SHARE))
    print(f"pull + merge of {cases} cases, reference server subprocess ({_cpus()} CPUs, "
          f"{cpu_model()}); ratio = median over runs of engine / the floor run just before it")
    print("  engine runs use detail_limit=0, watch_limit=0: the per-case files/insights refresh "
          "(one GET per stale or recently active case) is a separate step")
    print(f"  {'floor: httpx GET + json.loads':<44} {floor:7.3f} s  best {min(figures.floor):.3f}"
          f"   runs: {_runs(figures.floor)}")
    rows: list[tuple[str, list[tuple[float, float]]]] = [
        (f"first sync, empty cache ({repeat} runs)", figures.first),
        ("first sync, unencrypted cache (baseline)", figures.first_plain),
        (f"steady state, nothing changed ({pairs} runs)", figures.steady),
        (f"after {edited} server edits, {EDITED_SHARE:.0%} ({pairs} runs)", figures.edited),
    ]
    for label, runs in rows:
        seconds = [engine for _, engine in runs]
        ratios = sorted(engine / before for before, engine in runs)
        print(f"  {label:<44} {statistics.median(seconds):7.3f} s  ratio "
              f"{statistics.median(ratios):5.2f}x   (target <= 1.5)   ratios {ratios[0]:.2f}-"
              f"{ratios[-1]:.2f}   runs: {_runs(seconds)}")
    insert = statistics.median(figures.insert_floor)
    first = statistics.median(engine for _, engine in figures.first)
    print(f"  {'info: SQLite alone writing the same rows':<44} {insert:7.3f} s"
          f"   runs: {_runs(figures.insert_floor)}   (rows pre-built, no Python in the clock)")
    print(f"  info: (floor + SQLite alone) / floor = {(floor + insert) / floor:.2f}x: the least a "
          f"first sync that stores these rows can reach here; first sync / (floor + SQLite "
          f"alone) = {first / (floor + insert):.2f}x")
    sealed = statistics.median(figures.insert_floor_encrypted)
    plain = statistics.median(engine for _, engine in figures.first_plain)
    print(f"  {'info: SQLCipher alone, the same rows':<44} {sealed:7.3f} s"
          f"   runs: {_runs(figures.insert_floor_encrypted)}   (the encrypted cache as the app "
          f"opens it)")
    print(f"  info: like for like: first sync / (floor + SQLCipher alone) = "
          f"{first / (floor + sealed):.2f}x; unencrypted first sync / (floor + SQLite alone) = "
          f"{plain / (floor + insert):.2f}x   (target <= 1.2)")
    table = statistics.median(figures.table_floor)
    print(f"  {'info: the same, table and unique keys only':<44} {table:7.3f} s"
          f"   runs: {_runs(figures.table_floor)}   (no list or search index: "
          f"(floor + it) / floor = {(floor + table) / floor:.2f}x)")
    default = figures.first_default_detail
    print(f"  {f'first sync, default detail_limit={DEFAULT_DETAIL_LIMIT} (once)':<44} "
          f"{default:7.3f} s  ratio {default / floor:5.2f}x   (adds up to {DEFAULT_DETAIL_LIMIT} + "
          f"{DEFAULT_WATCH_LIMIT} case-detail GETs)")


# ---------------------------------------------------------------- upload








def _curl_upload(url: str, case_id: str, path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of the curl floor (body discarded; the listing finds the file)."""
    command = [
        "curl", "-sS", "-f", "-o", "/dev/null", "-F", f"case_id={case_id}",
        "-F", f"file=@{path};type=application/pdf",
        "-H", f"Authorization: Bearer {TOKEN}", f"{url}/cases/upload",
    ]
    cpu_before = _cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start, _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before


def _drop_uploads(server: ReferenceServer, case_id: str, size: int) -> None:
    """Check the upload arrived whole, then delete it: 1 GiB per run adds up on the server disk."""
    files = server.files(case_id)
    if [int(f["file_size"]) for f in files] != [size]:
        raise RuntimeError(f"expected one stored file of {size} bytes, server has {files}")
    for f in files:
        server.delete_file(str(f["file_id"]))


def upload_child(argv: list[str]) -> None:
    """Child process entry: upload once, print JSON {seconds, cpu, rss_growth_kib, size, sent}.

    VmHWM is read after every import, so the growth is what the upload itself needed."""
    url, case_id, path = argv
    sent = [0]

    def progress(done: int, total: int) -> None:
        sent[0] = done

    before = vm_hwm_kib()
    with MedMitraClient(url, TOKEN, USER) as client:
        cpu_before = _cpu_seconds(resource.RUSAGE_SELF)
        start = time.perf_counter()
        remote = client.upload_file(case_id, path, "scan.pdf", "application/pdf", progress=progress)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds(resource.RUSAGE_SELF) - cpu_before
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_growth_kib": vm_hwm_kib() - before,
                      "size": remote.file_size, "sent": sent[0]}))


def _client_upload(url: str, case_id: str, path: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS growth in MiB) from a fresh child process."""
    code = "import sys; from bench.sync import upload_child; upload_child(sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", code, url, case_id, str(path)],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    size = path.stat().st_size
    if result["size"] != size or result["sent"] != size:
        raise RuntimeError(f"upload sent {result['sent']} / stored {result['size']} of {size}")
    return float(result["seconds"]), float(result["cpu"]), result["rss_growth_kib"] / 1024


@dataclass
class UploadFigures:
    curl: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)
    curl_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    def clear(self) -> None:
        for values in (self.curl, self.client, self.curl_cpu, self.client_cpu, self.rss_mib):
            values.clear()


def measure_upload(root: Path, size_mib: int, repeat: int) -> UploadFigures:
    if shutil.which("curl") is None:
        raise RuntimeError("curl is needed for the upload floor (apt-get install -y curl)")
    source = root / "upload.bin"
    generate(source, size_mib)
    size = source.stat().st_size
    figures = UploadFigures()
    with ReferenceServer.start_process(root / "server-upload") as server:
        case_id = str(server.create_case(USER, patient_name="Bench Patient", patient_age=40,
                                         patient_gender="female")["case_id"])

        def curl() -> None:
            seconds, cpu = _curl_upload(server.url, case_id, source)
            figures.curl.append(seconds)
            figures.curl_cpu.append(cpu)
            _drop_uploads(server, case_id, size)

        def client() -> None:
            seconds, cpu, growth = _client_upload(server.url, case_id, source)
            figures.client.append(seconds)
            figures.client_cpu.append(cpu)
            figures.rss_mib.append(growth)
            _drop_uploads(server, case_id, size)

        contenders: list[Callable[[], None]] = [curl, client]
        quiesce()
        warm(source)
        for run in contenders:  # untimed warm-up: the server's first upload runs slower
            run()
            quiesce()
        figures.clear()
        for round_ in range(repeat):
            # Interleaved, and in turn first (curl, client, client, curl, ...): drift in the
            # machine and whatever one run leaves behind for the next hit both alike.
            for run in contenders if round_ % 2 == 0 else contenders[::-1]:
                run()
                quiesce()
    source.unlink()
    return figures


def report_upload(figures: UploadFigures, size_mib: int, repeat: int) -> None:
    curl, client = statistics.median(figures.curl), statistics.median(figures.client)
    print(f"upload of a {size_mib} MiB file to /cases/upload, reference server subprocess, "
          f"{repeat} pairs, each in turn first, after one untimed warm-up each ({_cpus()} CPUs, "
          f"{cpu_model()})")
    rows = (("floor: curl -F", figures.curl), ("MedMitraClient.upload_file (child)", figures.client))
    for label, values in rows:
        median = statistics.median(values)
        print(f"  {label:<35} {median:6.2f} s {size_mib / median:7.1f} MiB/s   best "
              f"{size_mib / min(values):6.1f} MiB/s   runs: {_runs(values)}")
    ratios = sorted(c / m for c, m in zip(figures.curl, figures.client, strict=True))
    print(f"  ratio client/curl throughput = {statistics.median(ratios):.2f}   (target >= 0.8; "
          f"median of the {len(ratios)} pairs {ratios[0]:.2f}-{ratios[-1]:.2f})   "
          f"medians {curl / client:.2f}   best vs best = "
          f"{min(figures.curl) / min(figures.client):.2f}")
    curl_cpu, client_cpu = statistics.median(figures.curl_cpu), statistics.median(figures.client_cpu)
    print(f"  info: CPU seconds (user+sys) of the sender: curl {curl_cpu:.2f}, client "
          f"{client_cpu:.2f}   runs: {_runs(figures.curl_cpu)} / {_runs(figures.client_cpu)}")
    print(f"  peak RSS growth during upload = {max(figures.rss_mib):.1f} MiB   (target <= 64)"
          f"   runs: {', '.join(f'{m:.1f}' for m in figures.rss_mib)}")


# ---------------------------------------------------------------- entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.sync")
    parser.add_argument("--cases", type=int, default=10000, help="cases to pull (default 10000)")
    parser.add_argument("--size-mib", type=int, default=1024, help="upload size (default 1024)")
    parser.add_argument("--only", choices=("pull", "upload"), default=None,
                        help="run one part (default: both)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="first syncs: runs of each contender (median)")
    parser.add_argument("--upload-pairs", type=int, default=5,
                        help="uploads: alternating curl/client pairs (a ratio per pair)")
    parser.add_argument("--pairs", type=int, default=11,
                        help="steady and 1%% syncs: runs, each beside its own floor run")
    parser.add_argument("--dir", default=None, help="where to put the temp files (default: TMPDIR)")
    args = parser.parse_args(argv)
    memory_keychain()

    with tempfile.TemporaryDirectory(prefix="bench-sync-", dir=args.dir) as tmp:
        root = Path(tmp)
        if args.only in (None, "pull"):
            pull = measure_pull(root, args.cases, args.repeat, args.pairs)
            report_pull(pull, args.cases, args.repeat, args.pairs)
            sys.stdout.flush()
        if args.only in (None, "upload"):
            upload = measure_upload(root, args.size_mib, args.upload_pairs)
            report_upload(upload, args.size_mib, args.upload_pairs)


if __name__ == "__main__":
    main()
