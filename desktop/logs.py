"""Rotating log files in the data folder. Callers log ids and counts, never patient data or
tokens; a filter scrubs anything shaped like a bearer token as a second line of defence."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

_TOKEN_RE = re.compile(r"(?i)(bearer\s+|token[=:]\s*|authorization[=:]\s*)[^\s,;\"']+")


class ScrubSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _TOKEN_RE.sub(r"\1[redacted]", message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every log file it opens, including each one started by a rollover, is 0600.

    The log is for support, never in the person's way: a write that fails (disk full, a
    read-only file or folder) is dropped, where logging would print "--- Logging error ---"
    and a traceback on the terminal. The file opens at the first record, so a log that
    cannot be opened costs nothing until then and nothing after.
    """

    dropped = 0  # records that could not be written

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.chmod(self.baseFilename, 0o600)
        except OSError:
            pass  # a read-only disk: the file is as private as it was made
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped += 1
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError:
                pass
            self.stream = None  # type: ignore[assignment]  # reopened at the next record


def configure(log_dir: Path, verbose: bool = False) -> None:
    """Send the app's logs to logs/casedesk.log (5 × 2 MiB, files 0600)."""
    try:
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        pass  # the handler drops what it cannot write
    path = log_dir / "casedesk.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_casedesk", False):
            root.removeHandler(handler)
            handler.close()
    handler = PrivateRotatingFileHandler(
        path, maxBytes=2 * 1024 * 1024, backupCount=5, encoding="utf-8", delay=True
    )
    handler._casedesk = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ScrubSecrets())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # httpx logs full URLs at INFO; keep it quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
