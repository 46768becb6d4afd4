"""How many seconds of saves a crash costs when the write-ahead log is lost as well.

A writer keeps one workspace open (as the window does) and saves a case every ``interval``
seconds, stamping each acknowledged save. It is killed with SIGKILL at a random moment, its
``-wal`` and ``-shm`` files are deleted, and the main file is read: the newest save still
there, against the moment of the kill, is the window of saves lost. Baseline: the same run
without the checkpointer (every save since the workspace opened is lost).
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Unencrypted (the benchmarks' baseline folder): what is measured is the checkpointing, which
# works alike on an encrypted cache, and the main file is then read here with plain sqlite3.
WRITER = """
import sys, time
from pathlib import Path
from desktop import datafolder
from desktop.workspace import Workspace
ws = Workspace(datafolder.prepare(Path(sys.argv[1])), encrypted=False)
if sys.argv[3] == "off":
    ws.checkpointer.close()
case = ws.create_case("Writer", 40, "female", "0")
print("ready", flush=True)
n = 0
while True:
    n += 1
    ws.edit_case(case.id, case_summary=str(n))
    print(n, time.time(), flush=True)
    time.sleep(float(sys.argv[2]))
"""


def trial(folder: Path, interval: float, run_for: float, checkpointer: str) -> float:
    """Seconds between the newest save that survived and the kill (the run's length when
    none did)."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(interval),
                             checkpointer], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    acked: dict[int, float] = {}
    started = time.time()
    while time.time() - started < run_for:
        n, when = proc.stdout.readline().split()
        acked[int(n)] = float(when)
    killed = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cache = folder / "casedesk.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(cache)
    row = conn.execute("SELECT case_summary FROM cases").fetchone()
    conn.close()
    survived = int(row[0]) if row else 0  # no row: even the case's creation was lost
    return killed - (acked[survived] if survived in acked else started)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between saves")
    args = parser.parse_args(argv)
    rng = random.Random(12)
    for mode in ("on", "off"):
        lost = []
        for _ in range(args.trials):
            with tempfile.TemporaryDirectory() as tmp:
                lost.append(trial(Path(tmp) / "d", args.interval, rng.uniform(2.0, 5.0), mode))
        label = "checkpointer" if mode == "on" else "baseline (no checkpointer)"
        print(f"{label:28} saves lost after kill -9 + lost -wal: max {max(lost):.2f} s, "
              f"median {statistics.median(lost):.2f} s over {len(lost)} trials "
              f"(a save every {args.interval * 1000:.0f} ms)")


if __name__ == "__main__":
    main(sys.argv[1:])
