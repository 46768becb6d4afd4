"""How conflicts read in the window: field names, values, and when the server wrote its side
(the server's own timestamp, shown in local time)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

FIELD_LABELS = {
    "patient_name": "Patient name",
    "patient_age": "Age",
    "patient_gender": "Gender",
    "case_summary": "Notes",
    "status": "Status",
    "case": "The whole case",  # a deletion on one side, changes on the other
}


def shown(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return str(value)


def server_time(stamp: str | None) -> str:
    """The server's ISO 8601 time as local "20 Nov 2026 14:32"; its own text if unreadable,
    and "" when it sent none."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return stamp[:40]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the server's times are UTC unless it says
    return moment.astimezone().strftime("%d %b %Y %H:%M")
