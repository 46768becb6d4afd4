"""Saves reach the main database file within seconds, not at the next clean exit.

In WAL mode a commit is durable in the ``-wal`` file; SQLite copies it into the main file
(a checkpoint) only once the log reaches 1,000 pages or the last connection closes. The
window keeps its connections open all day, so every save since it opened lived only in the
log: a crash followed by a lost ``-wal`` file (a disk check that discards it, a backup or a
copy that takes only the main file) lost all of them, silently.

After a commit, a background thread waits ``delay`` seconds (so a burst of saves costs one
checkpoint, and the saving thread never waits for it) and runs a PASSIVE checkpoint, which
never blocks a reader or a writer. What a long reader still needs is copied at a later turn.
A crash plus a lost log then costs at most the saves of the last ``delay`` seconds and one
checkpoint's time (see the README for the measured figure).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

DELAY_S = 1.0


class Checkpointer:
    """Copies committed log pages into the main file shortly after each commit."""

    def __init__(self, engine: Engine, delay: float = DELAY_S) -> None:
        self.engine = engine
        self.delay = delay
        self.runs = 0
        self._due = threading.Event()
        self._stopping = threading.Event()
        event.listen(engine, "commit", self._committed)
        self._thread = threading.Thread(target=self._run, name="casedesk-checkpoint",
                                        daemon=True)
        self._thread.start()

    def _committed(self, _connection: Any) -> None:
        self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            # Commits in the next moment are copied by the same checkpoint.
            if self._stopping.wait(self.delay):
                return
            self._due.clear()
            try:
                if not self.checkpoint():
                    self._due.set()  # a reader held some pages back: again at the next turn
            except Exception as exc:  # noqa: BLE001 - the next commit tries again
                log.info("checkpoint failed: %s", type(exc).__name__)

    def checkpoint(self) -> bool:
        """Copy the log into the main file now; False when some pages had to stay."""
        with self.engine.connect() as connection:
            busy, pages, copied = connection.exec_driver_sql(
                "PRAGMA wal_checkpoint(PASSIVE)").one()
        self.runs += 1
        return not busy and copied >= pages

    def close(self) -> None:
        if event.contains(self.engine, "commit", self._committed):
            event.remove(self.engine, "commit", self._committed)
        self._stopping.set()
        self._due.set()
        self._thread.join(timeout=10)
