"""The menu bar: every action of the window, in the desktop's usual menus, with its shortcut.

The features own their actions (the case list its sort orders and filters, the sync panel its
sign-in, sign-out and conflicts, the document viewer its zoom and find); the window owns the
open case's; this module only lays them out, so that each is reachable from the keyboard
(Alt and the menu's underlined letter) and shows its shortcut beside it. Help lists them all
(``shortcuts``).

The start window builds its frame from here before its first paint, so this module loads only
what that frame needs (see start_window).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QMainWindow, QMenu, QMenuBar, QPushButton, QToolBar, QWidget

from desktop.ui.icons import toolbar_icon

if TYPE_CHECKING:
    from PySide6.QtGui import QAction

    # A menu entry: an action, None for a separator, or (title, entries) for a submenu.
    Entry = QAction | None | tuple[str, Sequence["Entry"]]

# The desktop convention; the start window shows the same bar so nothing moves at start.
MENU_TITLES = ("&File", "&Edit", "&View", "&Case", "&Sync", "&Help")

# The toolbar's first buttons (text, icons.toolbar_icon name): the window's actions, and the
# start window's disabled stand-ins, so the list sits at the same height in both.
NEW_CASE = ("&New case…", "new_case")
SAVE_CASE = ("&Save", "save")
ADD_FILES = ("&Add files…", "add_files")
ARCHIVE = ("A&rchive…", "archive")
TOOLBAR = (NEW_CASE, SAVE_CASE, ADD_FILES, ARCHIVE)


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
    # By name: the start window's toolbar is made before Qt's enum namespace (start_window).
    toolbar.setProperty("toolButtonStyle", "ToolButtonTextBesideIcon")
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
    for text, icon in TOOLBAR:
        toolbar.addAction(toolbar_icon(icon), text).setEnabled(False)
