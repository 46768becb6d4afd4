"""What every benchmark needs: test files, warm and quiet disks, peak memory, percentiles."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

MIB = 1 << 20


def generate(path: Path, size_mib: int) -> None:
    """Incompressible data without spending a minute in urandom: 16 MiB of it, stamped per MiB
    so no two blocks are alike."""
    pool = os.urandom(16 * MIB)
    with open(path, "wb") as f:
        for i in range(size_mib):
            block = bytearray(pool[(i % 16) * MIB : (i % 16 + 1) * MIB])
            block[:8] = struct.pack("<Q", i)
            f.write(block)


def warm(path: Path) -> None:
    """Read a file once so every contender starts with it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(4 * MIB)
        while f.readinto(buf):
            pass


def quiesce() -> None:
    """Flush dirty pages so the next contender does not pay for the previous one's writeback."""
    os.sync()
    time.sleep(0.5)


def vm_hwm_kib() -> int:
    """This process's peak resident memory so far."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def memory_keychain() -> None:
    """The benchmarks never touch the real keychain (and a build machine may have none): the
    data folder's key lives in memory for the run, as in the self-test."""
    import keyring

    from desktop.keychain import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
