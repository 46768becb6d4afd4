"""Disks that fail the way real ones do: a small file system that fills up, one remounted
read-only, a single file made read-only, and the command line run as a separate process on
them (registered as pytest fixtures in tests/conftest.py).

Mounting needs root (CI and the development containers run as root); elsewhere these tests
are skipped with the reason.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def one_line_error(self) -> bool:
        """Exactly one line on stderr, the command line's own, and no traceback."""
        return (self.err.count("\n") == 1 and self.err.startswith("casedesk: error: ")
                and "Traceback" not in self.err and "Logging error" not in self.err)


def casedesk(data: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """The real command line in its own process, as a person would run it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CASEDESK_")}
    environment.update(env or {})
    done = subprocess.run([sys.executable, "-m", "desktop", "--data-dir", str(data), *args],
                          cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)
    return Run(done.returncode, done.stdout, done.stderr)


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """``small_disk(kib)``: a fresh tmpfs of that size, unmounted after the test."""
    mounted: list[Path] = []

    def mount(kib: int) -> Path:
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        done = _mount("-t", "tmpfs", "-o", f"size={kib}k,mode=0700", "casedesk-test",
                      str(path))
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small file system here (needs root): "
                        f"{done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill *disk* until at most *leave* bytes are free; returns the filler file."""
    filler = disk / "filler"
    block = b"\0" * 4096
    with open(filler, "ab") as f:
        while True:
            st = os.statvfs(disk)
            if st.f_bavail * st.f_frsize <= leave:
                break
            try:
                f.write(block)
                f.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return filler


def remount_read_only(disk: Path) -> None:
    done = _mount("-o", "remount,ro", str(disk))
    assert done.returncode == 0, done.stderr


@pytest.fixture
def read_only_file() -> Iterator[Callable[[Path], None]]:
    """``read_only_file(path)``: that one file cannot be written any more (a read-only bind
    mount over it, which binds root too; chmod would not)."""
    bound: list[Path] = []

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            path.chmod(0o400)
            return
        done = _mount("--bind", str(path), str(path))
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
        bound.append(path)
        done = _mount("-o", "remount,ro,bind", str(path))
        assert done.returncode == 0, done.stderr

    yield make
    for path in reversed(bound):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
