"""Blob intake throughput and memory, beside `cp` + `sha256sum` of the same file in the same run.

BlobStore.ingest copies and hashes in one pass, then fsyncs (file and folder). The baseline
does the naive two passes with coreutils and no fsync; informational lines add `sync FILE`
(durable like ingest) and `cp` alone (a floor: no hashing at all). Note coreutils'
sha256sum may lack the SHA-NI path OpenSSL (hence hashlib) uses, which flatters the ratio. The source is read once beforehand and
dirty pages are flushed between runs, so every contender starts warm and on a quiet disk.
Ingest runs in a fresh spawned process so its peak RSS growth (VmHWM after - before, imports
excluded) measures the copy alone. Targets: ingest/baseline <= 1.2, RSS growth <= 64 MiB.

``--kinds`` adds whole files of the types intake checks (bench.typed_files: a PDF, a PNG and
a DICOM series of the same size) taken in by ``intake.prepare`` — sniff, copy and hash, and
the check that the file is whole — against the same baseline; ``raw`` is noise through
``BlobStore.ingest`` (no type, no check), the figure earlier versions printed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import MIB, cpu_model, generate, quiesce, vm_hwm_kib, warm
from bench.typed_files import KINDS, WRITERS


def _ingest_child(source: str, blobs: str, kind: str = "raw",
                  sealed: bool = True) -> tuple[float, int, str, int]:
    """In a fresh process: (seconds, peak RSS growth in KiB, sha256, size); *sealed*: with
    the store's encryption (AES-256-GCM), as the app stores documents."""
    from desktop import intake
    from desktop.blob_seal import BlobKeys
    from desktop.intake import BlobStore

    keys = BlobKeys(os.urandom(32), os.urandom(32)) if sealed else None
    store = BlobStore(Path(blobs), keys)
    if kind != "raw":  # the libraries a check may load are imported before the measure
        intake.prepare(Path(source).with_name("warmup." + kind), store, max_size=None)
    before = vm_hwm_kib()
    start = time.perf_counter()
    if kind == "raw":
        blob = store.ingest(Path(source), max_size=None)
    else:
        blob = intake.prepare(Path(source), store, max_size=None).blob
    seconds = time.perf_counter() - start
    return seconds, vm_hwm_kib() - before, blob.sha256, blob.size








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




def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.intake")
    parser.add_argument("--size-mib", type=int, default=1024, help="test file size (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each contender (median)")
    parser.add_argument("--dir", default=None, help="where to put the temp files (default: TMPDIR)")
    parser.add_argument("--kinds", default="raw," + ",".join(KINDS),
                        help="raw (noise, no check) and/or typed files: " + ", ".join(KINDS))
    args = parser.parse_args(argv)
    for kind in args.kinds.split(","):
        _bench(kind.strip(), args)


def _bench(kind: str, args: argparse.Namespace) -> None:
    ctx = multiprocessing.get_context("spawn")
    copy, base, durable, ingest, rss, plain = [], [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-intake-", dir=args.dir) as tmp:
        root = Path(tmp)
        if kind == "raw":
            src = root / "source.bin"
            generate(src, args.size_mib)
        else:
            src = root / f"source.{kind}"
            WRITERS[kind](src, args.size_mib * MIB)
            WRITERS[kind](root / f"warmup.{kind}", MIB)
        size = src.stat().st_size
        quiesce()
        warm(src)
        for _ in range(args.repeat):
            copied, seconds, expected = _baseline(src, root / "copy.bin", durable=False)
            copy.append(copied)
            base.append(seconds)
            quiesce()
            _, seconds, _ = _baseline(src, root / "copy.bin", durable=True)
            durable.append(seconds)
            quiesce()
            with ctx.Pool(1) as pool:
                seconds, growth_kib, sha, got = pool.apply(
                    _ingest_child, (str(src), str(root / "blobs"), kind)
                )
            if sha != expected or got != size:
                raise RuntimeError("ingest produced a different digest than sha256sum")
            ingest.append(seconds)
            rss.append(growth_kib / 1024)
            shutil.rmtree(root / "blobs")
            quiesce()
            with ctx.Pool(1) as pool:
                seconds, _, sha, _ = pool.apply(
                    _ingest_child, (str(src), str(root / "blobs"), kind, False))
            if sha != expected:
                raise RuntimeError("ingest produced a different digest than sha256sum")
            plain.append(seconds)
            shutil.rmtree(root / "blobs")
            quiesce()

    ing, bl, dur = statistics.median(ingest), statistics.median(base), statistics.median(durable)
    size_mb = size / 1e6
    what = ("BlobStore.ingest (copy+hash, fsync)" if kind == "raw"
            else f"intake.prepare {kind:5} (+check)  ")
    print(f"blob intake, {kind}: {size / MIB:.0f} MiB file, median of {args.repeat} "
          f"({os.cpu_count()} CPUs, {cpu_model()})")
    print(f"  {what}, encrypted    {ing:6.2f} s  {size_mb / ing:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in ingest)}")
    pl = statistics.median(plain)
    print(f"  {what}, unencrypted  {pl:6.2f} s  {size_mb / pl:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in plain)}")
    print(f"  cp + sha256sum (baseline)            {bl:6.2f} s  {size_mb / bl:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in base)}")
    print(f"  cp + sha256sum + sync FILE           {dur:6.2f} s  {size_mb / dur:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in durable)}")
    cp = statistics.median(copy)
    print(f"  cp alone (no hash, no fsync: floor)  {cp:6.2f} s  {size_mb / cp:7.0f} MB/s"
          f"   runs: {', '.join(f'{s:.2f}' for s in copy)}")
    print(f"  ratio ingest/baseline = {ing / bl:.2f}   (target <= 1.5 encrypted)   "
          f"unencrypted ingest/baseline = {pl / bl:.2f}")
    print(f"  ratio ingest/durable baseline = {ing / dur:.2f}   ingest/cp alone = {ing / cp:.2f}")
    print(f"  peak RSS growth during ingest = {max(rss):.1f} MiB   (target <= 64)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
