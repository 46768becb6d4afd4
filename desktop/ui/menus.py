"""The menu bar: every action of the window, in the desktop's usual menus, with its shortcut.

The features own their actions (the case list its sort orders and filters, the sync panel its
sign-in, sign-out and conflicts, the document viewer its zoom and find); the window owns the
open case's; this module only lays them out, so that each is reachable from the keyboard
(Alt and the menu's underlined letter) and shows its shortcut beside it. Help lists them all.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMainWindow,
    QMenu,
    QMenuBar,
    QPushButton,
    QStyle,
    QTextBrowser,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

# The desktop convention; the start window shows the same bar so nothing moves at start.
MENU_TITLES = ("&File", "&Edit", "&View", "&Case", "&Sync", "&Help")

# The toolbar's first buttons (text, icon): the window's actions, and the start window's
# disabled stand-ins, so the list sits at the same height in both.
NEW_CASE = ("&New case…", QStyle.StandardPixmap.SP_FileDialogNewFolder)
SAVE_CASE = ("&Save", QStyle.StandardPixmap.SP_DialogSaveButton)
ADD_FILES = ("&Add files…", QStyle.StandardPixmap.SP_DirOpenIcon)
ARCHIVE = ("A&rchive…", QStyle.StandardPixmap.SP_TrashIcon)
TOOLBAR = (NEW_CASE, SAVE_CASE, ADD_FILES, ARCHIVE)

# A menu entry: an action, None for a separator, or (title, entries) for a submenu.
Entry = QAction | None | tuple[str, Sequence["Entry"]]


def fill_menu(menu: QMenu, entries: Iterable[Entry]) -> None:
    for entry in entries:
        if entry is None:
            menu.addSeparator()
        elif isinstance(entry, tuple):
            title, items = entry
            fill_menu(menu.addMenu(title), items)
        else:
            menu.addAction(entry)


def build_menu_bar(bar: QMenuBar, menus: dict[str, Sequence[Entry]]) -> dict[str, QMenu]:
    """One menu per title of MENU_TITLES, filled with its entries."""
    built = {}
    for title in MENU_TITLES:
        menu = bar.addMenu(title)
        menu.setObjectName("menu" + title.replace("&", ""))
        fill_menu(menu, menus.get(title, ()))
        built[title] = menu
    return built


def new_toolbar(window: QMainWindow) -> QToolBar:
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    return toolbar


def first_size(window: QWidget) -> QSize:
    """A first start's window size: 1280 × 800, or the screen's free area if smaller (a
    1024 × 768 screen shows the whole window, status bar included)."""
    screen = window.screen().availableGeometry()
    return QSize(min(1280, screen.width()), min(800, screen.height()))


def steady_status_bar(window: QMainWindow) -> None:
    """A status bar as tall as the tallest thing it ever shows (a button, while files are
    taken in): it never changes height, and the start window's matches the full one's."""
    probe = QPushButton("Cancel")
    window.statusBar().setFixedHeight(probe.sizeHint().height() + 4)
    probe.deleteLater()


def placeholder_chrome(window: QMainWindow) -> None:
    """The same menus and first toolbar buttons, disabled: the start window's frame, so the
    list does not move when the full window takes its place."""
    for title in MENU_TITLES:
        window.menuBar().addMenu(title).setEnabled(False)
    steady_status_bar(window)
    toolbar = new_toolbar(window)
    style = window.style()
    for text, icon in TOOLBAR:
        toolbar.addAction(style.standardIcon(icon), text).setEnabled(False)


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
