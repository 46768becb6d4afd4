"""Work around a reference-count bug in the pinned PySide6 on CPython 3.11.

With PySide6 6.12.0 on CPython 3.11, every ``Signal.emit()`` and ``connect()`` called from
Python gives back ``True`` without taking a reference to it (and some calls do the same with
``None``). Each call therefore lowers the reference count of ``True``/``None`` by one; after a
few hundred signal emissions the interpreter aborts with "Fatal Python error: bool_dealloc".
CPython 3.12 made these singletons immortal, which is why the bug does not show there.

The fix here does what 3.12 does: if the leak is detected (a probe emit lowers the count),
``True``, ``False`` and ``None`` get a very large extra reference count, so the leak can never
bring them to zero. Nothing else changes; the probe is a few microseconds at import.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

_PREPAID = 1 << 40  # more leaked references than a process can make in its lifetime


class _Probe(QObject):
    ping = Signal()


def signal_leaks_references() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    return sys.getrefcount(True) < before


def apply() -> bool:
    """Make True/False/None effectively immortal if this PySide6 leaks them; True if applied."""
    if sys.version_info >= (3, 12) or getattr(apply, "done", False):
        return False
    apply.done = True  # type: ignore[attr-defined]
    if not signal_leaks_references():
        return False
    for singleton in (True, False, None):
        _add(singleton, _PREPAID)
    log.info("PySide6 signal reference leak detected; True/False/None made immortal")
    return True


def _add(obj: object, count: int) -> None:
    """Raise obj's reference count by ``count`` in one step (ob_refcnt is the first field)."""
    refcnt = ctypes.c_ssize_t.from_address(id(obj))
    refcnt.value += count
