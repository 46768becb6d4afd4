"""What the sync engine knows of a server's records, whatever dialect they came in.

Each server kind parses its own wire format into these shapes; the outbox engine, the pull and
the file refresh work on them only. The scalar readers are tolerant on purpose: a server may
send 12, 12.0 or "12" for an id, and an unknown value is kept as text, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from desktop.models.tables import CASE_FIELDS
from desktop.sync import errors as err
from desktop.sync.json_answer import is_too_deep, nesting_exceeds

T = TypeVar("T")

# Values a record may hold; anything else sets that one record aside (see UnreadableRecord).
INSIGHTS_DEPTH = 16  # AI insights are stored and shown: lists of text, a level or two deep
AGE_RANGE = (0, 150)
SIZE_RANGE = (0, 1 << 53)
MAX_ID_LENGTH = 200


@dataclass(slots=True)
class RemoteCase:
    """A case as the server listed it. Read-only by use; not ``frozen``, whose ``__init__``
    sets each field through ``object.__setattr__`` (14 ms of a 10,000-case first sync)."""

    server_id: str
    numeric_id: str | None
    user_id: str | None
    patient_name: str | None
    patient_age: int | None
    patient_gender: str | None
    case_summary: str | None
    status: str | None
    created_at: str | None
    updated_at: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def remote_fields(remote: RemoteCase) -> dict[str, Any]:
    """The case fields as the server holds them (a base for the three-way merge)."""
    return {name: getattr(remote, name) for name in CASE_FIELDS}


@dataclass(frozen=True)
class RemoteFile:
    """A file a server holds for a case. ``file_url`` is absolute, or None when the server
    offers no download of its bytes."""

    file_id: str
    case_id: str | None
    file_name: str
    file_type: str | None
    file_size: int | None
    file_url: str | None
    file_category: str | None
    uploaded_at: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class CaseDetail:
    """One case's files and AI insights; ``case`` is None for a server that stores files
    only (it has no case record to merge)."""

    case: RemoteCase | None
    files: list[RemoteFile]
    insights: dict[str, Any] | None
    # Records of the answer that could not be used (the rest of it was).
    set_aside: list[UnreadableRecord] = field(default_factory=list)


# ------------------------------------------------------------------ tolerant scalars


def text_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    return None


def id_of(value: Any) -> str | None:
    """Ids are opaque text; the server may send 12, 12.0 or "12". One that is too long or
    not printable is no usable id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer() or abs(value) > 2**63:
            return None
        value = int(value)
    if isinstance(value, int) and abs(value) > 2**63:
        return None
    text = text_of(value)
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > MAX_ID_LENGTH or not text.isprintable():
        return None
    return text


def int_of(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if math.isfinite(number) and number.is_integer() else None
    return None


def int_within(value: Any, bounds: tuple[int, int], what: str, field_name: str) -> int | None:
    """A whole number within ``bounds``; None when absent or not a number (read tolerantly,
    as :func:`int_of`); a number outside them (10^20, 1e300) sets the record aside."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UnreadableRecord(what, f"its {field_name} is not a finite number")
    number = int_of(value)  # 12.5 or "twelve": not a whole number, read as unknown
    if number is not None and not bounds[0] <= number <= bounds[1]:
        raise UnreadableRecord(
            what, f"its {field_name} is out of range ({bounds[0]} to {bounds[1]})")
    return number


def first_of(raw: Mapping[str, Any], *names: str) -> Any:
    """The first present value among a field's spellings (the deployed backend renames some)."""
    for name in names:
        if raw.get(name) is not None:
            return raw[name]
    return None


def shape_error(server: str, why: str, creates: bool = False) -> err.ProtocolError:
    """An answer in an unexpected form: nothing was applied here. On a create it may still
    have been stored there, so it is an unknown outcome."""
    return err.ProtocolError(
        f"{server}'s answer was not in the expected form, so nothing was applied ({why}). "
        "The server may be a different version than Case Desk expects.",
        retryable=False, outcome_unknown=creates,
    )


class UnreadableRecord(err.ProtocolError):
    """One record of an answer cannot be used (a number out of range, no usable id, an
    address that is no address, nesting too deep): that record is set aside with this reason
    and the rest of the answer is used. The reason names fields, never their values, so it
    can go to the log.

    ``what`` is the kind of record ("case", "file", "AI insights"); ``server_id`` its id on
    the server when that much could be read.
    """

    def __init__(self, what: str, reason: str, server_id: str | None = None) -> None:
        super().__init__(f"A {what} record from the server was set aside: {reason}.",
                         retryable=False)
        self.what = what
        self.reason = reason
        self.server_id = server_id


def check_depth(raw: Any, what: str) -> None:
    if is_too_deep(raw):
        raise UnreadableRecord(what, "it is nested too deeply to read")


def usable(parse: Callable[[Any], T], raws: list[Any], set_aside: list[UnreadableRecord]) -> list[T]:
    """Each raw record parsed, the unreadable ones left out and added to ``set_aside``."""
    out: list[T] = []
    for raw in raws:
        try:
            out.append(parse(raw))
        except UnreadableRecord as exc:
            set_aside.append(exc)
    return out


def insights_of(value: Any, set_aside: list[UnreadableRecord]) -> dict[str, Any] | None:
    """AI insights to store, or None; insights nested too deeply are set aside."""
    if not isinstance(value, Mapping):
        return None
    if nesting_exceeds(value, INSIGHTS_DEPTH):
        set_aside.append(UnreadableRecord("AI insights", "they are nested too deeply to read"))
        return None
    return dict(value)
