"""Field-level three-way merge of a case: base (last server values seen), mine, theirs.

Pure functions, no I/O: the engine feeds them values and applies what they decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldConflict:
    field: str
    base: Any
    mine: Any
    theirs: Any


@dataclass
class MergeResult:
    take: dict[str, Any] = field(default_factory=dict)  # server values to write locally
    keep: list[str] = field(default_factory=list)  # local changes that still must be pushed
    settled: list[str] = field(default_factory=list)  # both sides now agree: nothing to push
    conflicts: list[FieldConflict] = field(default_factory=list)
    new_base: dict[str, Any] = field(default_factory=dict)


def same_value(a: Any, b: Any) -> bool:
    # The server may send "" where we hold None for an empty note.
    if a in (None, "") and b in (None, ""):
        return True
    return bool(a == b)


def merge_case(
    base: Mapping[str, Any] | None,
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any],
    fields: Iterable[str],
) -> MergeResult:
    """Decide field by field; never overwrite a local change the server did not also make.

    A field missing from *base* (a case we never saw on the server) counts as changed on both
    sides only when the values differ; that is a conflict, not a silent pick.
    """
    base = base or {}
    result = MergeResult(new_base=dict(base))
    for name in fields:
        if name not in theirs:
            continue
        b, m, t = base.get(name), mine.get(name), theirs[name]
        result.new_base[name] = t
        if same_value(m, t):
            result.settled.append(name)
        elif name in base and same_value(m, b):
            result.take[name] = t
        elif name in base and same_value(t, b):
            result.keep.append(name)
            result.new_base[name] = b
        else:
            result.conflicts.append(FieldConflict(name, b, m, t))
            result.new_base[name] = b
    return result
