"""Blob intake throughput and memory, beside `cp` + `sha256sum` of the same file in the same run.

BlobStore.ingest copies and hashes in one pass, then fsyncs (file and folder). The baseline
does the naive two passes with coreutils and no fsync; informational lines add `sync FILE`
(durable like ingest) and `cp` alone (a floor: no hashing at all). Note coreutils'
sha256sum may lack the SHA-NI path OpenSSL (hence hashlib) uses, which flatters the ratio. The source is read once beforehand and
dirty pages are flushed between runs, so every contender starts warm and on a quiet disk.
Ingest runs in a fresh spawned process so its peak RSS growth (VmHWM after - before, imports
excluded) measures the copy alone. Targets: ingest/baseline <= 1.2, RSS growth <= 64 MiB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
from pathlib import Path

MIB = 1 << 20


def _vm_hwm_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _ingest_child(source: str, blobs: str) -> tuple[float, int, str, int]:
    """In a fresh process: (seconds, peak RSS growth in KiB, sha256, size)."""
    from desktop.intake import BlobStore

    store = BlobStore(Path(blobs))
    before = _vm_hwm_kib()
    start = time.perf_counter()
    blob = store.ingest(Path(source), max_size=None)
    seconds = time.perf_counter() - start
    return seconds, _vm_hwm_kib() - before, blob.sha256, blob.size


def _generate(path: Path, size_mib: int) -> None:
    """Incompressible data without spending a minute in urandom: 16 MiB of it, stamped per MiB."""
    pool = os.urandom(16 * MIB)
    with open(path, "wb") as f:
        for i in range(size_mib):
            block = bytearray(pool[(i % 16) * MIB : (i % 16 + 1) * MIB])
            block[:8] = struct.pack("<Q", i)  # no two MiB blocks alike
            f.write(block)


def _warm(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(4 * MIB)
        while f.readinto(buf):
            pass


def _quiesce() -> None:
    """Flush dirty pages so the next contender does not pay for the previous one's writeback."""
    os.sync()
    time.sleep(0.5)


def _baseline(src: Path, dst: Path, durable: bool) -> tuple[float, float, str]:
    """(cp seconds, total seconds, digest) for cp + sha256sum [+ sync FILE]."""
    start = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    copied = time.perf_counter() - start
    out = subprocess.run(["sha256sum", str(dst)], check=True, capture_output=True, text=True)
    if durable:
        subprocess.run(["sync", str(dst)], check=True)
    seconds = time.perf_counter() - start
    dst.unlink()
    return copied, seconds, out.stdout.split()[0]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.intake")
    parser.add_argument("--size-mib", type=int, default=1024, help="test file size (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender (median)")
    parser.add_argument("--dir", default=None, help="where to put the temp files (default: TMPDIR)")
    args = parser.parse_args(argv)

    ctx = multiprocessing.get_context("spawn")
    copy, base, durable, ingest, rss = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-intake-", dir=args.dir) as tmp:
        root = Path(tmp)
        src = root / "source.bin"
        _generate(src, args.size_mib)
        _quiesce()
        _warm(src)
        for _ in range(args.repeat):
            copied, seconds, expected = _baseline(src, root / "copy.bin", durable=False)
            copy.append(copied)
            base.append(seconds)
            _quiesce()
            _, seconds, _ = _baseline(src, root / "copy.bin", durable=True)
            durable.append(seconds)
            _quiesce()
            with ctx.Pool(1) as pool:
                seconds, growth_kib, sha, size = pool.apply(
                    _ingest_child, (str(src), str(root / "blobs"))
                )
            if sha != expected or size != args.size_mib * MIB:
                raise RuntimeError("ingest produced a different digest than sha256sum")
            ingest.append(seconds)
            rss.append(growth_kib / 1024)
            shutil.rmtree(root / "blobs")
            _quiesce()

    ing, bl, dur = statistics.median(ingest), statistics.median(base), statistics.median(durable)
    size_mb = args.size_mib * MIB / 1e6
    print(f"blob intake, {args.size_mib} MiB file, median of {args.repeat} "
          f"({os.cpu_count()} CPUs, {_cpu_model()})")
    print(f"  BlobStore.ingest (copy+hash, fsync)  {ing:6.2f} s  {size_mb / ing:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in ingest)}")
    print(f"  cp + sha256sum (baseline)            {bl:6.2f} s  {size_mb / bl:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in base)}")
    print(f"  cp + sha256sum + sync FILE           {dur:6.2f} s  {size_mb / dur:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in durable)}")
    cp = statistics.median(copy)
    print(f"  cp alone (no hash, no fsync: floor)  {cp:6.2f} s  {size_mb / cp:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in copy)}")
    print(f"  ratio ingest/baseline = {ing / bl:.2f}   (target <= 1.2)")
    print(f"  ratio ingest/durable baseline = {ing / dur:.2f}   ingest/cp alone = {ing / cp:.2f}")
    print(f"  peak RSS growth during ingest = {max(rss):.1f} MiB   (target <= 64)")


if __name__ == "__main__":
    main()
