"""The first window a person sees: their cases, read straight from the cache file.

The data layer (SQLAlchemy, the schema check, the sync client) takes about half a second to
load; the first screenful of the case list needs only the cache's key and one read-only query
(``first_glance``), which ``key_prefetch``'s helper process does while Qt loads here (this
window reads the rows itself for a sort other than the default). Where the key needs a
passphrase, there is no preview. So a double-click answers at once with the clinician's own
list, in the layout the full window will have, and the full window replaces this one in place
when it is ready. A missing, older or unreadable cache shows the plain "Opening your cases…"
line instead, and the full start-up deals with it.

Nothing before the first paint touches PySide6's ``Qt`` namespace: the first use of it makes
its ~90 enum classes, ~20 ms, a seventh of a bare window's start. So the preview's rows are a
QStandardItemModel (no Python ``headerData`` receiving a ``Qt.Orientation``), enum-typed
properties are set by name, and the list's sort order comes from a setting of its own rather
than from the header's ``sortIndicatorOrder()``. A test holds this (test_start_window).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QColor, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.first_glance import (
    DEFAULT_SORT,
    PREVIEW_ROWS,
    StoredRow,
    read_first_rows,
)
from desktop.ui.cases.case_columns import (
    COL_AGE,
    COL_SYNC,
    COLUMNS,
    FILTER_ALL_ACTIVE,
    FILTER_EVERYTHING,
    HEADER_KEY,
    SORT_KEY,
    read_sort_setting,
    row_texts,
)
from desktop.ui.icons import sync_icon
from desktop.ui.menus import first_size, placeholder_chrome
from desktop.ui.settings import app_settings

if TYPE_CHECKING:
    from PySide6.QtWidgets import QHeaderView

    from desktop.key_prefetch import KeyPrefetch
    from desktop.ui.cases.case_table import CaseTable

log = logging.getLogger(__name__)


Row = tuple[tuple[str, ...], str]  # display texts, sync state

# Qt.ItemDataRole.TextAlignmentRole and Qt.AlignmentFlag.AlignRight | AlignVCenter, as the
# numbers a QStandardItem takes (tests hold them equal to the enums).
ALIGNMENT_ROLE = 7
RIGHT_ALIGNED = 0x82


class KeyFetch(threading.Thread):
    """The cache's key from the keychain, read in a thread while the first frame paints:
    importing keyring and asking the keychain take most of 100 ms, which would otherwise
    come between the frame and the list."""

    def __init__(self, root: Path, prefetch: KeyPrefetch | None = None) -> None:
        super().__init__(name="casedesk-start-key", daemon=True)
        self.root = root
        self.prefetch = prefetch
        self.result: tuple[bool, bytes | None] = (True, None)
        self._rows: list[StoredRow] | None = None  # the default list's, read by the helper
        self.start()

    def run(self) -> None:
        if self.prefetch is not None:  # read by the helper process, only waited for here
            encrypted, keys = self.prefetch.result(KEY_WAIT_S)
            self.result = (encrypted, keys.cache if keys is not None else None)
            self._rows = keys.rows if keys is not None else None
            return
        from desktop.folder_key import cache_key_at_hand

        try:
            self.result = cache_key_at_hand(self.root)
        except Exception as exc:  # noqa: BLE001 - no key: no preview, the full start says why
            log.info("start window: no key at hand (%s)", type(exc).__name__)

    def key(self) -> tuple[bool, bytes | None]:
        self.join(KEY_WAIT_S)
        return (True, None) if self.is_alive() else self.result

    @property
    def rows(self) -> list[StoredRow] | None:
        """The default list's first rows, if the key helper read them with the key."""
        return None if self.is_alive() else self._rows

    def at_hand(self, within: float) -> bool:
        """Whether the answer (a key, or none needed) is in within *within* seconds."""
        self.join(within)
        return not self.is_alive()


KEY_WAIT_S = 2.0


def first_rows(cache: Path, sort: str = "updated", descending: bool = True,
               limit: int = PREVIEW_ROWS, key_fetch: KeyFetch | None = None
               ) -> list[Row] | None:
    """The first rows of the default list (archived hidden), formatted; None if the cache
    cannot be read as it is (see first_glance). Read by the key helper where it has read
    them ahead (the default sort), else here."""
    fetch = key_fetch or KeyFetch(cache.parent)
    encrypted, key = fetch.key()
    if encrypted and key is None:
        return None  # a passphrase first: the full start-up asks for it
    stored = fetch.rows if (sort, descending) == DEFAULT_SORT and limit == PREVIEW_ROWS else None
    if stored is None:
        stored = read_first_rows(cache, key, sort, descending, limit)
    if stored is None:
        return None
    try:
        return [(row_texts(name, age, gender, status, _utc(updated), state), state)
                for name, age, gender, status, updated, state in stored]
    except (ValueError, TypeError) as exc:
        log.info("start window: no preview of the cache (%s)", type(exc).__name__)
        return None


def _utc(stored: str) -> datetime:
    """Cache timestamps are naive UTC text (see models.tables.UTCDateTime)."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def preview_model(rows: list[Row], parent: QWidget | None = None) -> QStandardItemModel:
    """The rows as a plain item model: painting it runs no Python."""
    model = QStandardItemModel(0, len(COLUMNS), parent)
    model.setHorizontalHeaderLabels([label for label, _key in COLUMNS])
    for texts, state in rows:
        items = [QStandardItem(text) for text in texts]
        items[COL_SYNC].setIcon(sync_icon(state))
        items[COL_AGE].setData(RIGHT_ALIGNED, ALIGNMENT_ROLE)
        model.appendRow(items)
    return model


def saved_sort(settings: QSettings, header: QHeaderView) -> tuple[str, bool]:
    """The list's sort (key, descending) as the full window will restore it: from the sort
    setting the window keeps beside the header's state, if that names the header's sorted
    column; else asked of the header itself (the first start after an upgrade)."""
    section = header.sortIndicatorSection()
    saved = read_sort_setting(settings.value(SORT_KEY))
    if saved is not None and 0 <= section < len(COLUMNS) and COLUMNS[section][1] == saved[0]:
        return saved
    if not 0 <= section < len(COLUMNS):
        return "updated", True
    from PySide6.QtCore import Qt  # ~20 ms, once: the next close saves the setting

    return COLUMNS[section][1], header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder


class StartWindow(QMainWindow):
    """First a frame saying "Opening your cases…", painted before anything touches the disk;
    then (``show_cases``) the list pane as the full window will show it, beside that line."""

    def __init__(self, cache: Path | None, prefetch: KeyPrefetch | None = None) -> None:
        super().__init__()
        self.cache = cache
        self.key_fetch = KeyFetch(cache.parent, prefetch) if cache is not None else None
        self.setWindowTitle("Case Desk")
        self.resize(first_size(self))
        self.table: CaseTable | None = None
        self.model: QStandardItemModel | None = None
        self.opening = QLabel("Opening your cases…")
        self.opening.setProperty("alignment", "AlignCenter")  # by name: see the module's note
        font = self.opening.font()  # a palette and a font, not a style sheet: ~5 ms less to show
        font.setPointSizeF(13)
        self.opening.setFont(font)
        palette = self.opening.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor("#616161"))
        self.opening.setPalette(palette)
        self.setCentralWidget(self.opening)
        placeholder_chrome(self)  # the full window's menus and toolbar: nothing moves at start
        self.statusBar().showMessage("Opening your cases…")
        geometry = app_settings().value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)

    def list_at_hand(self, within: float) -> bool:
        """Whether the first rows can be read without waiting longer than *within* for the
        cache's key (a folder with no key needs none)."""
        return self.key_fetch is None or self.key_fetch.at_hand(within)

    def show_cases(self) -> bool:
        """Put the first rows of the list beside the "Opening" line; False if there are none
        to show (no cache yet, or one this release must upgrade first)."""
        if self.cache is None:
            return False
        from desktop.ui.cases.case_table import CaseTable

        settings = app_settings()
        # The table first: the saved header state says which column the list sorts by.
        table = CaseTable()
        table.setAccessibleName("Cases (opening)")
        # A preview takes no keys (the full window's list does), and taking focus would run
        # the list's Python moveCursor with a Qt.KeyboardModifier before the first paint.
        table.setProperty("focusPolicy", "NoFocus")
        table.setModel(preview_model([], table))  # the columns exist before they are sized
        table.apply_list_look()
        header = table.horizontalHeader()
        state = settings.value(HEADER_KEY)
        restored = isinstance(state, QByteArray) and not state.isEmpty() and header.restoreState(state)
        sort, descending = saved_sort(settings, header) if restored else ("updated", True)
        rows = first_rows(self.cache, sort, descending, key_fetch=self.key_fetch)
        if not rows:
            table.deleteLater()
            return False
        self.table, self.model = table, preview_model(rows, table)
        table.setModel(self.model)
        panel = QWidget()
        search = QLineEdit(panel)
        search.setPlaceholderText("Search names and notes (Ctrl+F)")
        search.setEnabled(False)
        shown = QComboBox(panel)  # the list panel's filter row, as the full window has it
        shown.addItems([FILTER_ALL_ACTIVE, FILTER_EVERYTHING])  # as wide as the full one's
        shown.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(search, 3)
        top.addWidget(QLabel("Show:", panel))
        top.addWidget(shown, 1)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addLayout(top)
        layout.addWidget(table, 1)
        layout.addWidget(QLabel("Loading…", panel))  # where the full list counts its cases
        splitter = QSplitter()  # side by side, as the full window's
        splitter.addWidget(panel)
        splitter.addWidget(self.opening)
        splitter.setSizes([640, 720])
        state = settings.value("window/splitter")
        if isinstance(state, QByteArray) and not state.isEmpty():
            splitter.restoreState(state)
        self.setCentralWidget(splitter)
        return True
