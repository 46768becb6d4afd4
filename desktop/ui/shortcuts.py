"""Help › Keyboard shortcuts: every action of the menu bar with its keys, read from the bar
itself so the list can never disagree with the menus."""

from __future__ import annotations

import html

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMenu,
    QMenuBar,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)


def menu_actions(bar: QMenuBar) -> list[tuple[str, QAction]]:
    """Every action in the bar with its menu path ("View › Sort by"), submenus walked."""
    found: list[tuple[str, QAction]] = []

    def walk(menu: QMenu, path: str) -> None:
        for act in menu.actions():
            if act.isSeparator():
                continue
            sub = act.menu()
            if isinstance(sub, QMenu):
                walk(sub, f"{path} › {plain(act.text())}")
            else:
                found.append((path, act))

    for act in bar.actions():
        sub = act.menu()
        if isinstance(sub, QMenu):
            walk(sub, plain(act.text()))
    return found


def plain(text: str) -> str:
    """A menu text without its underline marker."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def shortcuts_html(bar: QMenuBar) -> str:
    rows = []
    for path, act in menu_actions(bar):
        keys = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        rows.append(f"<tr><td>{html.escape(path)}</td><td>{html.escape(plain(act.text()))}</td>"
                    f"<td><b>{html.escape(keys)}</b></td></tr>")
    return ("<p>Every action is in the menus: press Alt and the underlined letter of a menu, "
            "then the arrows or the underlined letter of the action. Tab and Shift+Tab move "
            "between the controls of the window; the arrows move inside a list.</p>"
            "<table cellspacing='6'><tr><th align='left'>Menu</th><th align='left'>Action</th>"
            "<th align='left'>Shortcut</th></tr>" + "".join(rows) + "</table>")


class ShortcutsDialog(QDialog):
    """Help › Keyboard shortcuts: every action of the menus with its keys."""

    def __init__(self, bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts — Case Desk")
        self.browser = QTextBrowser(self)
        self.browser.setAccessibleName("Keyboard shortcuts")
        self.browser.setHtml(shortcuts_html(bar))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(620, 560)
