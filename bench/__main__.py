"""`make bench`: every benchmark, each printing its figures beside a same-run baseline."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

BENCHES = ["bench.edits", "bench.intake", "bench.sync", "bench.push", "bench.gui", "bench.care360",
           "bench.durability", "bench.million"]


def main() -> int:
    only = sys.argv[1:]
    for name in BENCHES:
        if only and name.split(".")[-1] not in only:
            continue
        if importlib.util.find_spec(name) is None:
            print(f"== {name}: not present, skipped")
            continue
        print(f"== {name}", flush=True)
        # Each in a process of its own: run in one, a later bench's memory and collector
        # carried every earlier bench's objects (the million-case window read 367 MiB where
        # it takes 271 MiB alone, 243 MiB of it there before its window was made).
        code = subprocess.run([sys.executable, "-m", name], check=False).returncode
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
