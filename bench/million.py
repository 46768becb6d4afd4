"""One million cases (a clinic network's archive), each figure beside a same-run baseline.

The cache is generated once (a few minutes) into a folder that is kept between runs
(``--dir``, default ``$TMPDIR/casedesk-bench-million``) and reused while its case count holds.
It is encrypted, as the app always runs: the folder's key lives in a keychain file kept beside
it (the tests' own backend; the real keychain is never touched). A folder an earlier version of
this bench left unencrypted is converted on its first use here, as the app converts one.

1. Cold start: a bare PySide6 window against Case Desk's first paint with the case list and
   its full window, fresh processes alternating (the instrument of ``bench.gui``).
2. Filter keystroke → painted list over the ``bench.gui`` mix of searches; p95.
3. Paging through the list: a page down at spread positions (rows read + drawn); p95.
4. The window's resident memory once the full list is in and after the paging; the cache's
   size on disk.
5. A pull of 100,000 cases from the reference server in a fresh child process: progress
   reports seen, peak memory growth (VmHWM after - before, imports excluded) against the size
   of the server's answer; the bound is growth <= 1x the answer (the list is read record by
   record as it arrives and written in batches, never held whole).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import pct, vm_hwm_kib

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

MIB = 1 << 20
CHUNK = 50_000


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def million_cache(folder: Path, count: int) -> Path:
    """The data folder with *count* generated cases, made once and kept."""
    from sqlalchemy import insert

    from desktop.models.tables import Case
    from desktop.workspace import Workspace
    from tools.sample_data import fake_rows

    data = folder / "data"
    stamp = folder / f"cases-{count}"
    if stamp.exists() and data.exists():
        with Workspace.open(data) as ws:  # converts an unencrypted one left by an older bench
            if not ws.unlock_secret_set():
                ws.set_unlock_secret("20262026")  # else the window opens asking for one
        return data
    if data.exists():
        import shutil

        shutil.rmtree(data)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with Workspace.open(data) as ws:
        for n in range(0, count, CHUNK):  # the sample data's rows, server ids kept unique
            rows = fake_rows(min(CHUNK, count - n), seed=7 + n // CHUNK)
            for row in rows:
                if row["server_id"] is not None:
                    row["server_id"] = f"srv-{n}-{row['server_id']}"
            with ws.transaction() as s:
                for at in range(0, len(rows), 5000):
                    s.execute(insert(Case.__table__), rows[at : at + 5000])
        ws.set_unlock_secret("20262026")
    stamp.write_text(f"generated in {time.perf_counter() - start:.0f} s\n")
    return data


def cache_size(data: Path) -> int:
    return sum(p.stat().st_size for p in data.glob("casedesk.sqlite3*"))


# ------------------------------------------------------------------ 1. cold start


def bench_start(data: Path, starts: int) -> None:
    from bench.gui import _measure_start

    with tempfile.TemporaryDirectory() as tmp:
        pycache = Path(tmp) / "pycache"
        child = ["--child", "casedesk", "--data-dir", str(data)]
        _measure_start(["--child", "bare"], pycache)
        _measure_start(child, pycache)
        bare, listed, ready = [], [], []
        for _ in range(starts):
            bare.append(_measure_start(["--child", "bare"], pycache)["painted"])
            marks = _measure_start(child, pycache)
            listed.append(marks["listed"])
            ready.append(marks["ready"])
    ms = 1000.0
    print(f"cold start, {starts} fresh processes of each, alternating (ratio: median of pairs)")
    print(f"  bare PySide6 QMainWindow                   {statistics.median(bare) * ms:7.0f} ms")
    for label, runs, note in (("first paint with the case list", listed, "   (target <= 1.5)"),
                              ("full window with its list", ready, "   (every action)")):
        ratios = [r / b for r, b in zip(runs, bare, strict=True)]
        print(f"  Case Desk {label:<32} {statistics.median(runs) * ms:7.0f} ms   ratio "
              f"{statistics.median(ratios):.2f} (pairs {min(ratios):.2f}..{max(ratios):.2f}){note}")


# ------------------------------------------------------------------ 2-4. window figures


def bench_window(data: Path, keystrokes: int, pages: int) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from bench.gui import _run_until, filter_figures
    from desktop.ui.app import make_application
    from desktop.ui.main_window import MainWindow
    from desktop.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
        app = make_application([sys.argv[0]])
        assert isinstance(app, QApplication)
        rss_before = _rss_kib()
        ws = Workspace.open(data)
        window = MainWindow(ws)
        window.resize(1280, 800)
        window.show()
        refreshed = {"n": 0}
        window.model.refreshed.connect(lambda: refreshed.__setitem__("n", refreshed["n"] + 1))
        start = time.perf_counter()
        _run_until(lambda: refreshed["n"] >= 1, window.model.refreshed)
        listed = time.perf_counter() - start
        rows = window.model.rowCount()
        # Paging and searching are measured once the window's start-up work in the
        # background (the whole-file check, seconds here) is done: the steady state.
        checked = time.perf_counter()
        _run_until(lambda: window.runner.running == 0)
        checked = time.perf_counter() - checked
        rss_listed = _rss_kib()

        # Paging: a page down at spread positions through the whole list.
        table = window.table
        bar = table.verticalScrollBar()
        timings: list[float] = []
        cpu: list[float] = []
        for n in range(pages):
            bar.setValue(int(bar.maximum() * n / max(1, pages - 1)))
            app.processEvents()
            cpu_begin = time.process_time()
            begin = time.perf_counter()
            bar.setValue(bar.value() + bar.pageStep())
            table.viewport().repaint()
            timings.append(time.perf_counter() - begin)
            cpu.append(time.process_time() - cpu_begin)
        rss_paged = _rss_kib()
        filters = filter_figures(app, window, ws, keystrokes)
        rss_end = _rss_kib()
        window._close_confirmed = True
        window.close()
        window.runner.shutdown()
        ws.close()
    ms = 1000.0
    print(f"the window over {rows:,} cases: full list in {listed * ms:.0f} ms after show; "
          f"its start-up work in the background done {checked * ms:.0f} ms later")
    print(f"  page down (rows read + drawn), {pages} pages spread through the list: p50 "
          f"{statistics.median(timings) * ms:.1f} ms   p95 {pct(timings, .95) * ms:.1f} ms   "
          f"max {max(timings) * ms:.1f} ms   (target p95 <= 16 ms)")
    print(f"    CPU time of this process per page: p50 {statistics.median(cpu) * ms:.1f} ms   "
          f"p95 {pct(cpu, .95) * ms:.1f} ms   (other programs' load does not inflate it)")
    for line in filters:
        print(line.replace("(target p95 <= 25 ms at 100,000;", "(target p95 <= 50 ms at 1M;"))
    print(f"  resident memory: {rss_listed / 1024:.0f} MiB with the list in, "
          f"{rss_paged / 1024:.0f} MiB after paging, {rss_end / 1024:.0f} MiB after the "
          f"searches (Python + Qt before the window: {rss_before / 1024:.0f} MiB)   "
          f"(target <= 300 MB)")


# ------------------------------------------------------------------ 5. a pull of 100,000


def pull_child(argv: list[str]) -> None:
    """In a fresh process: one first sync; prints progress count, HWM growth, answer size."""
    import keyring

    from desktop.sync.credentials import MemoryKeyring
    from desktop.sync.medmitra.client import MedMitraClient
    from desktop.sync.medmitra.engine import MedMitraEngine
    from desktop.workspace import Workspace

    url, data = argv
    keyring.set_keyring(MemoryKeyring())
    seen: list[object] = []
    with Workspace.open(data) as ws, MedMitraClient(url, "token-doctor-1", "doctor-1") as client:
        engine = MedMitraEngine(ws, client, detail_limit=0, watch_limit=0)
        before = vm_hwm_kib()
        start = time.perf_counter()
        report = engine.run(progress=seen.append)
        seconds = time.perf_counter() - start
        after = vm_hwm_kib()
        phases = sorted({str(getattr(p, "phase", "")) for p in seen})
    print(json.dumps({"seconds": seconds, "growth_kib": after - before, "reports": len(seen),
                      "phases": phases, "new": report.pulled_new, "ok": report.ok}))


def bench_pull(root: Path, cases: int) -> None:
    import httpx

    from tests.server.control import REPO_ROOT, ReferenceServer

    with ReferenceServer.start_process(root / "server") as server:
        server.seed_cases("doctor-1", cases)
        answer = httpx.get(f"{server.url}/cases/all_cases", params={"user_id": "doctor-1"},
                           headers={"Authorization": "Bearer token-doctor-1"}, timeout=120)
        size = len(answer.content)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT)
        done = subprocess.run(
            [sys.executable, "-m", "bench.million", "--pull-child", server.url,
             str(root / "pulled")], capture_output=True, text=True, cwd=REPO_ROOT, env=env,
            check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"first sync of {cases:,} cases from the reference server: {got['seconds']:.1f} s, "
          f"{got['new']:,} new, {got['reports']} progress reports ({', '.join(got['phases'])})")
    ratio = got["growth_kib"] * 1024 / size
    print(f"  peak memory growth {got['growth_kib'] / 1024:.0f} MiB; the server's answer "
          f"{size / MIB:.0f} MiB: growth / answer = {ratio:.2f}x   (target <= 1.0x: "
          f"{'met' if ratio <= 1.0 else 'NOT met'})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.million")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir())
                                             / "casedesk-bench-million"))
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--keystrokes", type=int, default=50)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--pull", type=int, default=100_000, help="cases in the pull figure")
    parser.add_argument("--only", choices=["start", "window", "pull"], action="append")
    parser.add_argument("--pull-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pull_child:
        pull_child(args.pull_child)
        return
    only = set(args.only or ["start", "window", "pull"])
    if only & {"start", "window"}:
        from bench.gui import _file_keychain

        Path(args.dir).mkdir(parents=True, exist_ok=True)
        _file_keychain(Path(args.dir))  # kept with the cache: its key must outlive the run
        start = time.perf_counter()
        data = million_cache(Path(args.dir), args.cases)
        print(f"{args.cases:,} cases in {data} ({time.perf_counter() - start:.0f} s to have it); "
              f"cache on disk {cache_size(data) / MIB:.0f} MiB")
        sys.stdout.flush()
        if "start" in only:
            bench_start(data, args.starts)
            sys.stdout.flush()
        if "window" in only:
            bench_window(data, args.keystrokes, args.pages)
            sys.stdout.flush()
    if "pull" in only:
        with tempfile.TemporaryDirectory(prefix="bench-million-pull-") as tmp:
            bench_pull(Path(tmp), args.pull)


if __name__ == "__main__":
    main()
