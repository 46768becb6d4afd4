"""Full-size hostile-server figures (issue 13): peak memory, disk and time of `casedesk sync`
(or a download) in a child process facing each bomb, beside the largest legitimate answer (a
first sync of 100,000 cases) and a normal small sync.

    .venv/bin/python -m bench.hostile [--cases 100000]

Run by hand, not by `make bench`: it seeds 100,000 cases and sends bombs of several GB
(decompressed), so it takes a few minutes. The same attacks at small sizes, with the caps
lowered, run in `make test` (tests/e2e/test_hostile_server.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.measure import MIB
from tests.server.control import ReferenceServer

ROOT = Path(__file__).resolve().parents[1]

SYNC = """
import sys
from desktop.cli import main
code = main(sys.argv[2:])
sys.stdout.flush()
open(sys.argv[1], "w").write([l for l in open("/proc/self/status")
                              if l.startswith("VmHWM:")][0].split()[1])
sys.exit(code)
"""

DOWNLOAD = """
import sys
from pathlib import Path
from desktop import logs
from desktop.errors import CaseDeskError
from desktop.sync import runner
from desktop.workspace import Workspace
logs.configure(Path(sys.argv[2]) / "logs")
with Workspace.open(sys.argv[2]) as ws:
    try:
        runner.download(ws, sys.argv[3]); print("downloaded")
    except CaseDeskError as exc:
        print(f"casedesk: error: {exc}")
open(sys.argv[1], "w").write([l for l in open("/proc/self/status")
                              if l.startswith("VmHWM:")][0].split()[1])
"""


def child(code: str, *args: str, watch: Path | None = None) -> tuple[str, float, float, int]:
    """(its one line, VmHWM MiB, seconds, peak bytes under ``watch``)."""
    env = dict(os.environ, CASEDESK_TOKEN="token-doctor-1",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", PYTHONPATH=str(ROOT))
    hwm = Path(tempfile.mktemp())
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set() and watch is not None:
            size = sum(p.stat().st_size for p in watch.rglob("*") if p.is_file())
            peak[0] = max(peak[0], size)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code, str(hwm), *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    line = (result.stdout.strip().splitlines() or [result.stderr.strip()[-200:]])[-1]
    return line, int(hwm.read_text()) / 1024, seconds, peak[0]


def folder(server: ReferenceServer, tmp: Path, name: str) -> Path:
    import keyring

    from desktop.sync import runner
    from desktop.sync.credentials import MemoryKeyring
    from desktop.workspace import Workspace
    from tests.signin import sign_in
    keyring.set_keyring(MemoryKeyring())
    data = tmp / name
    with Workspace.open(data) as ws:
        sign_in(ws, server.url, verify=False)
        assert runner.run_sync(ws).ok
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="casedesk-hostile-"))
    with ReferenceServer.start_process(tmp / "server") as server:
        # The largest legitimate answer: a big clinic's case list.
        server.seed_cases("doctor-1", args.cases)
        body = httpx.get(f"{server.url}/cases/all_cases", params={"user_id": "doctor-1"},
                         headers={"Authorization": "Bearer token-doctor-1"}, timeout=300).content
        print(f"case list of {args.cases:,} cases: {len(body) / MIB:.1f} MiB "
              f"({len(body) / args.cases:.0f} bytes a case)")
        data = tmp / "big"
        with_profile = folder_empty(server, data)
        line, big_hwm, secs, _ = child(SYNC, "--data-dir", str(with_profile), "sync")
        print(f"legitimate first sync of {args.cases:,}: VmHWM {big_hwm:.0f} MiB, {secs:.1f} s "
              f"| {line[:90]}")
        server.reset()
        server.seed_cases("doctor-1", 30)
        small = folder(server, tmp, "small")
        line, small_hwm, secs, _ = child(SYNC, "--data-dir", str(small), "sync")
        print(f"normal sync of 30 cases: VmHWM {small_hwm:.0f} MiB, {secs:.1f} s")
        print(f"{'bomb':44} {'VmHWM':>8} {'vs 100k':>8} {'disk':>10} {'time':>7}  line")

        def show(name: str, hwm: float, secs: float, disk: int, line: str) -> None:
            print(f"{name:44} {hwm:6.0f} M {hwm - big_hwm:+7.0f} M {disk / MIB:8.2f} M "
                  f"{secs:6.1f}s  {line[:110]}")

        bombs = [
            ("gzip on the list, 1.2 MB (1.2 GB inflated)", "gzip_bomb", 1_200_000_000),
            ("gzip on the list, 4.7 MB (4.8 GB inflated)", "gzip_bomb", 4_800_000_000),
            ("plain 200 MB list body", "huge_body", 200 * 1_000_000),
            ("127 MiB list of empty records {},{},…", "dense_body", 127 * MIB),
            ("one byte a second on the list", "drip", 0),
        ]
        for name, mode, size in bombs:
            data = folder(server, tmp, mode + str(size))
            server.hostile(mode, path="/cases/all_cases", size=size, seconds=1.0)
            line, hwm, secs, disk = child(SYNC, "--data-dir", str(data), "sync")
            server.clear_hostile()
            show(name, hwm, secs, disk, line)
        data = folder(server, tmp, "retry")
        server.fail_next(n=50, status=503, retry_after=3600, path="/cases/all_cases")
        server.clear_requests()
        line, hwm, secs, disk = child(SYNC, "--data-dir", str(data), "sync")
        asked = sum(r["path"] == "/cases/all_cases" for r in server.requests())
        server.clear_faults()
        show(f"503 Retry-After 3600 ({asked} request)", hwm, secs, disk, line)

        for index, (name, mode, size) in enumerate([
            ("document declared 45 B, server sends 67 MB", "oversize_download", 67_000_000),
            ("gzip download 1.2 MB (1.2 GB inflated)", "gzip_download", 1_200_000_000),
            ("same, no size declared (1 GiB hard maximum)", "gzip_download", 1_200_000_000),
        ]):
            data = folder(server, tmp, f"download{index}")
            from desktop.workspace import Workspace
            with Workspace.open(data) as ws:
                case = ws.list_cases()[0]
            server.add_file(case.server_id, "lab-result.pdf", b"%PDF-1.4\n".ljust(45, b"%"),
                            "application/pdf")
            server.edit_case(case.server_id, status="completed")
            data = refreshed(data)
            with Workspace.open(data) as ws:
                [doc] = ws.documents(case.id)
                if "no size" in name:
                    with ws.transaction() as s:
                        s.connection().exec_driver_sql("UPDATE documents SET size = 0")
            server.hostile(mode, path="/files/", size=size)
            line, hwm, secs, disk = child(DOWNLOAD, str(data), doc.id, watch=data / "blobs")
            server.clear_hostile()
            show(name, hwm, secs, disk, line)


def folder_empty(server: ReferenceServer, data: Path) -> Path:
    import keyring

    from desktop.sync.credentials import MemoryKeyring
    from desktop.workspace import Workspace
    from tests.signin import sign_in
    keyring.set_keyring(MemoryKeyring())
    with Workspace.open(data) as ws:
        sign_in(ws, server.url, verify=False)
    return data


def refreshed(data: Path) -> Path:
    from desktop.sync import runner
    from desktop.workspace import Workspace

    with Workspace.open(data) as ws:
        assert runner.run_sync(ws).ok
    return data


if __name__ == "__main__":
    main(sys.argv[1:])
