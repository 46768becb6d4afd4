"""The case list's columns and how a row reads, shared by the list model and the start window
(which shows the first page before the data layer has loaded: same columns, same texts)."""

from __future__ import annotations

from datetime import datetime

from desktop.ui.icons import SYNC_LABELS

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

# Widths a first start gives the columns (a saved header state replaces them).
DEFAULT_WIDTHS = ((COL_NAME, 170), (COL_AGE, 44), (COL_GENDER, 66),
                  (COL_STATUS, 92), (COL_UPDATED, 124), (COL_SYNC, 120))


def row_texts(
    name: str, age: int, gender: str, status: str, updated_at: datetime, sync_state: str
) -> tuple[str, ...]:
    """A row's display texts, in column order (``updated_at`` aware, shown in local time)."""
    return (
        name,
        str(age),
        gender,
        status,
        updated_at.astimezone().strftime("%Y-%m-%d %H:%M"),
        SYNC_LABELS.get(sync_state, sync_state),
    )
