"""The AI insights tab: what it shows, and what it survives."""

from __future__ import annotations

from desktop.models.tables import Case
from desktop.ui.cases.insights_view import NO_INSIGHTS, insights_html
from desktop.ui.main_window import MainWindow
from desktop.workspace import Workspace
from tools.sample_data import INSIGHTS

from ..conftest import select_case


def test_insights_tab(qtbot, window: MainWindow, ws: Workspace) -> None:
    with_ai = ws.create_case("Amara Okafor", 47, "female")
    without = ws.create_case("Bruno Berger", 60, "male")
    with ws.transaction() as session:
        row = session.get(Case, with_ai.id)
        assert row is not None
        row.ai_insights = INSIGHTS
    with qtbot.waitSignal(window.model.refreshed, timeout=10000):
        window.model.refresh()
    select_case(qtbot, window, with_ai.id)
    window.case_view.tabs.setCurrentWidget(window.case_view.insights)
    note = window.case_view.insights.note
    assert note.isVisible() and "AI-generated — check before clinical use" in note.text()
    text = window.case_view.insights.text()
    assert "Community-acquired pneumonia" in text
    assert "J18.1" in text and "87%" in text
    assert "Right lower lobe consolidation on chest X-ray" in text
    for label in ("Subjective", "Objective", "Assessment", "Plan"):
        assert label in text
    select_case(qtbot, window, without.id)
    assert NO_INSIGHTS in window.case_view.insights.text()
    assert not note.isVisible()  # nothing AI-generated on show


def test_insights_html_escapes_and_tolerates_odd_values() -> None:
    html = insights_html({"primary_diagnosis": "<script>x</script>", "key_findings": "single",
                          "diagnosis_confidence_score": "n/a"})
    assert "<script>" not in html and "&lt;script&gt;" in html and "single" in html


def test_insights_say_they_are_ai_generated_and_show_local_times(monkeypatch) -> None:
    import time

    from PySide6.QtGui import QTextDocument

    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+5:30, no daylight saving
    time.tzset()
    try:
        document = QTextDocument()
        document.setHtml(insights_html(INSIGHTS))
        text = document.toPlainText()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert "2026-11-20T14:05:00Z" not in text  # no raw ISO time
    assert "generated 20 Nov 2026 19:35" in text  # 14:05 UTC, in local time
    odd = QTextDocument()
    odd.setHtml(insights_html({"primary_diagnosis": "x", "generated_at": "yesterday"}))
    assert "generated yesterday" in odd.toPlainText()
