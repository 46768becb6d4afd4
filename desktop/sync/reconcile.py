"""Recognising on the server what an earlier attempt sent, when its answer was lost.

The APIs have no idempotency key, so a create or an upload whose outcome is unknown is found
again by what it carried: the same fields (or name and size), created no earlier than the
send, less clock slack, and not already owned by another local record.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from desktop.sync.records import RemoteCase, RemoteFile

# Server and client clocks disagree a little; a match may be this much older than our send.
CLOCK_SLACK = timedelta(minutes=10)
MATCH_KEYS = ("patient_name", "patient_age", "patient_gender", "case_summary")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def content_key(fields: dict[str, Any]) -> tuple[Any, ...]:
    """What :func:`matches_sent` compares, loosened (case, spacing): two creates with the
    same key could be taken one for the other, so they are never in flight at once."""
    return ("content", *(" ".join(str(fields.get(k) or "").split()).casefold()
                         for k in MATCH_KEYS))


def sent_content(case: RemoteCase | dict[str, Any]) -> tuple[Any, ...]:
    """What :func:`matches_sent` compares, exactly: a server case and the fields a create
    sent with the same key are alike (then only the send time decides)."""
    if isinstance(case, dict):
        return tuple(case.get(k) or None for k in MATCH_KEYS)
    return tuple(getattr(case, k) or None for k in MATCH_KEYS)


def matches_sent(remote: RemoteCase, payload: dict[str, Any]) -> bool:
    """Is *remote* the case an earlier attempt sent? Same fields, created no earlier than the
    send (less clock slack), so an older look-alike case is never adopted by mistake."""
    sent = payload.get("fields") or {}
    if not sent or not all(
        (getattr(remote, k) or None) == (sent.get(k) or None) for k in MATCH_KEYS
    ):
        return False
    since, created = parse_time(payload.get("sent_at")), parse_time(remote.created_at)
    return since is None or created is None or created >= since - CLOCK_SLACK


def find_sent_file(
    files: Iterable[RemoteFile],
    owned: set[str],
    name: str,
    size: int,
    sent_at: str | None = None,
) -> RemoteFile | None:
    """The first server file an earlier upload of (name, size) may have made: not owned by
    another document, of that name, of that size where the server says, and (when the send
    time is known) not older than the send less clock slack."""
    since = parse_time(sent_at)
    for remote in files:
        if remote.file_id in owned or remote.file_name != name:
            continue
        if remote.file_size is not None and remote.file_size != size:
            continue
        if since is not None:
            made = parse_time(remote.uploaded_at)
            if made is not None and made < since - CLOCK_SLACK:
                continue
        return remote
    return None
