"""How a row of the case list reads: the compact time of its last change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from desktop.ui.cases.case_columns import row_texts, when_text


def test_the_updated_column_shows_the_hour_today_the_day_this_year_the_month_before() -> None:
    now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC).astimezone()
    today = now.replace(hour=9, minute=5)
    earlier = now - timedelta(days=40)
    older = now.replace(year=2024, month=3)
    assert when_text(today, now) == "09:05"
    assert when_text(earlier, now) == earlier.strftime("%d %b")  # the locale's month name
    assert when_text(older, now) == older.strftime("%b %Y")
    # Formatted once per day, the same text each time it is asked for again.
    assert when_text(earlier + timedelta(minutes=1), now) == when_text(earlier, now)


def test_a_row_reads_in_column_order() -> None:
    now = datetime.now().astimezone()
    texts = row_texts("Amara Okafor", 47, "female", "pending", now - timedelta(days=400),
                      "pending", now)
    assert texts[:4] == ("Amara Okafor", "47", "female", "pending")
    assert texts[4] == (now - timedelta(days=400)).strftime("%b %Y")
