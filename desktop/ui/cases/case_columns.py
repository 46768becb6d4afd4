"""The case list's columns and how a row reads, shared by the list model and the start window
(which shows the first page before the data layer has loaded: same columns, same texts).

The list must fit its panel at 1024 px: the patient's name takes what the other columns leave,
and those are as narrow as their words allow (a short sync word beside its icon, the long
reason in the tooltip; the time of day for today's changes, the date otherwise).
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from desktop.ui.icons import SYNC_SHORT

# (header, CaseQuery sort key)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Patient", "name"),
    ("Age", "age"),
    ("Gender", "gender"),
    ("Status", "status"),
    ("Updated", "updated"),
    ("Sync", "sync"),
)
COL_NAME, COL_AGE, COL_GENDER, COL_STATUS, COL_UPDATED, COL_SYNC = range(len(COLUMNS))

# The widest text each narrow column shows (the name column stretches): their widths follow
# the font, so the list fits at any font size.
WIDEST: dict[int, tuple[str, ...]] = {
    COL_AGE: ("150",),
    COL_GENDER: ("unknown", "female"),
    COL_STATUS: ("processing", "completed", "analyzing"),
    COL_UPDATED: ("Sep 2026", "28 Sep", "00:00"),
    COL_SYNC: tuple(SYNC_SHORT.values()),
}
MIN_NAME_WIDTH = 120  # px: a name is always readable, even in a narrow panel
# The status filter's first and widest entries (the list panel has them all; the start
# window's stand-in has these two, so it is as wide, and the search field beside it too).
FILTER_ALL_ACTIVE = "All active"
FILTER_EVERYTHING = "All, including archived"
# Where the list's column layout and sort are kept (a layout saved before the columns fitted
# the panel is left behind under its old key).
HEADER_KEY = "window/caseListColumns"
# The list's sort as "<sort key> asc|desc", saved beside the header's state: the start window
# reads it as text, where asking the header for its order would cost a Qt enum namespace
# (see start_window).
SORT_KEY = "window/caseListSort"


def sort_setting(key: str, descending: bool) -> str:
    return f"{key} {'desc' if descending else 'asc'}"


def read_sort_setting(value: object) -> tuple[str, bool] | None:
    """(sort key, descending) from a saved sort setting; None if absent or not one."""
    if not isinstance(value, str):
        return None
    key, _, order = value.partition(" ")
    if key not in {k for _label, k in COLUMNS} or order not in ("asc", "desc"):
        return None
    return key, order == "desc"


def when_text(moment: datetime, now: datetime | None = None) -> str:
    """A compact local time: today's changes by the hour, this year's by the day, older ones
    by the month (the case view shows the full time)."""
    local = moment.astimezone()
    today = (now or datetime.now()).astimezone().date()
    if local.date() == today:
        return f"{local.hour:02d}:{local.minute:02d}"  # "%H:%M" in every locale
    return _day_text(local.year, local.month, local.day, local.year == today.year)


@lru_cache(maxsize=2048)
def _day_text(year: int, month: int, day: int, this_year: bool) -> str:
    """A day as the list shows it, in the person's locale (the month's name). Each day is
    formatted once: ``strftime`` was half of formatting a block of rows (it imports ``time``
    on every call, through PySide6's import hook), and a screenful shares a few days."""
    return date(year, month, day).strftime("%d %b" if this_year else "%b %Y")


def row_texts(
    name: str, age: int, gender: str, status: str, updated_at: datetime, sync_state: str,
    now: datetime | None = None,
) -> tuple[str, ...]:
    """A row's display texts, in column order (``updated_at`` aware, shown in local time;
    ``now``: the moment "today" is judged from, read once for a block of rows)."""
    return (
        name,
        str(age),
        gender,
        status,
        when_text(updated_at, now),
        SYNC_SHORT.get(sync_state, sync_state),
    )
