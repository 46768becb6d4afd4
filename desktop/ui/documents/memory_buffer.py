"""A document's bytes in memory, and as a QIODevice: how a decrypted document reaches Qt's
readers (images, PDF) without a file in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice

from desktop.errors import NotFoundError
from desktop.intake import StoredBytes

# A document to show: its stored bytes, or a plain file (a test, a tool).
Source = StoredBytes | Path
MISSING = "The file is missing from this computer."


def read_source(source: Source | bytes) -> bytes:
    """All of a document's bytes, in memory (a stored one decrypted and checked);
    NotFoundError when they are not here, BlobDamaged when they fail their check."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, StoredBytes):
        return source.read()
    try:
        return Path(source).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(MISSING) from None


def buffer_of(data: bytes, parent: Any = None) -> QBuffer:
    """A QIODevice over bytes in memory, open for reading."""
    buffer = QBuffer(parent)
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    return buffer
