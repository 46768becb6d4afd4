"""The New case dialog, the AI insights tab and the app entry point's safety nets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from desktop.models.tables import Case
from desktop.ui import app as app_module
from desktop.ui.cases.insights_view import NO_INSIGHTS, insights_html
from desktop.ui.cases.new_case_dialog import NewCase, NewCaseDialog
from desktop.ui.main_window import MainWindow
from desktop.workspace import Workspace
from tools.sample_data import INSIGHTS

from .conftest import select_case


def test_new_case_dialog_validates_inline(qtbot) -> None:
    dialog = NewCaseDialog()
    qtbot.addWidget(dialog)
    dialog.accept()
    assert dialog.value is None and dialog.result() != NewCaseDialog.DialogCode.Accepted
    assert dialog.name_error.text() == "Patient name is required."
    assert "Gender is required" in dialog.gender_error.text()
    dialog.name.setText("  Nadia Novak ")
    dialog.age.setValue(29)
    dialog.gender.setCurrentText("Female")
    dialog.notes.setPlainText("first visit")
    dialog.accept()
    assert dialog.value == NewCase("Nadia Novak", 29, "female", "first visit", "pending")
    assert dialog.name_error.isHidden()
    assert dialog.age.maximum() == 150


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


def test_excepthook_logs_and_shows_a_calm_message(qtbot, monkeypatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    previous = sys.excepthook
    try:
        app_module.install_excepthook()
        try:
            raise RuntimeError("internal detail")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = previous
    assert shown == [app_module.CALM_MESSAGE]
    assert "internal detail" not in shown[0]


def test_run_reports_an_unusable_data_folder(qtbot, monkeypatch, tmp_path: Path) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    previous = sys.excepthook
    try:
        assert app_module.run(data_dir=not_a_folder) == 1
    finally:
        sys.excepthook = previous
    assert shown and "is a file, not a folder" in shown[0]


@pytest.mark.parametrize("argv", [[], ["gui"]])
def test_casedesk_opens_the_window(monkeypatch, tmp_path: Path, argv: list[str]) -> None:
    import desktop.__main__ as entry

    calls: list[dict] = []
    monkeypatch.setattr(app_module, "run", lambda **kw: calls.append(kw) or 0)
    monkeypatch.setattr(sys, "argv", ["casedesk", "--data-dir", str(tmp_path / "d"), *argv])
    assert entry.main() == 0
    assert calls and calls[0]["data_dir"] == str(tmp_path / "d")


def test_start_shows_the_window_after_a_placeholder(qtbot, tmp_path: Path) -> None:
    window, workspace = app_module.start(tmp_path / "data")
    try:
        assert isinstance(window, MainWindow) and window.isVisible()
        qtbot.waitUntil(lambda: window.runner.running == 0 and not window.model.loading)
        assert window.list_panel.count_label.text() == "0 cases"
    finally:
        window._close_confirmed = True
        window.close()
        window.runner.shutdown()
        window.deleteLater()
        workspace.close()
