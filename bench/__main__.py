"""`make bench`: every benchmark, each printing its figures beside a same-run baseline."""

from __future__ import annotations

import importlib
import sys

BENCHES = ["bench.edits", "bench.intake", "bench.sync", "bench.push", "bench.gui", "bench.care360",
           "bench.durability", "bench.million"]


def main() -> int:
    only = sys.argv[1:]
    for name in BENCHES:
        if only and name.split(".")[-1] not in only:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                print(f"== {name}: not present, skipped")
                continue
            raise
        print(f"== {name}")
        module.main([])
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
