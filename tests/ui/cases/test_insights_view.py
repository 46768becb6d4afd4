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
    text = window.case_view.insights.text()
    assert "Community-acquired pneumonia" in text
    assert "J18.1" in text and "87%" in text
    assert "Right lower lobe consolidation on chest X-ray" in text
    for label in ("Subjective", "Objective", "Assessment", "Plan"):
        assert label in text
    select_case(qtbot, window, without.id)
    assert NO_INSIGHTS in window.case_view.insights.text()


def test_insights_html_escapes_and_tolerates_odd_values() -> None:
    html = insights_html({"primary_diagnosis": "<script>x</script>", "key_findings": "single",
                          "diagnosis_confidence_score": "n/a"})
    assert "<script>" not in html and "&lt;script&gt;" in html and "single" in html
