"""The window's search takes what a person pastes: control characters read as spaces, and a
search too long to use whole says so beside the count, in the command line's words."""

from __future__ import annotations

from desktop.ui.main_window import MainWindow
from desktop.workspace import Workspace
from tests.test_search_input import thousand_short_words

from ..conftest import settle


def test_window_search_takes_a_nul_and_a_thousand_words(qtbot, window: MainWindow,
                                                        ws: Workspace) -> None:
    ws.create_case("Jane Smith", 30, "female", "pt on abx for cough")
    ws.create_case("Ravi Kumar", 61, "male", "chest pain")
    window.model.refresh()
    settle(qtbot, window)
    panel = window.list_panel
    panel.search.setText("Jane\x00Smith")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10000)
    assert panel.count_label.text() == "1 case"
    panel.search.setText(thousand_short_words())
    qtbot.waitUntil(lambda: "searched the first 16 words" in panel.count_label.text(),
                    timeout=10000)
    assert window.model.rowCount() == 0 and panel.count_label.text().startswith("0 cases — ")
