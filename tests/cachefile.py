"""Opening a test's cache file directly (to look into it, or damage it on purpose): the cache
is encrypted, so the connection is keyed with its data folder's key from the test keychain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher

from desktop import folder_key
from desktop.models.database import apply_key

DatabaseError = sqlcipher.DatabaseError
OperationalError = sqlcipher.OperationalError
IntegrityError = sqlcipher.IntegrityError


def key_of(folder: Path) -> bytes:
    return folder_key.open_keys(Path(folder), may_create=False).cache


def plain(cache: Path) -> bool:
    """An unencrypted SQLite file (an earlier release's cache), or none yet."""
    try:
        with open(cache, "rb") as f:
            return f.read(16) in (b"SQLite format 3\x00", b"")
    except FileNotFoundError:
        return True


def connect(cache: Path | str, *, folder: Path | None = None, read_only: bool = False,
            **kwargs: Any) -> Any:
    """A connection on *cache*, keyed with the key of *folder* (default: the folder the
    cache is in) unless the file is an unencrypted one."""
    cache = Path(cache)
    key = None if plain(cache) else key_of(folder or cache.parent)
    if read_only:
        conn = sqlcipher.connect(f"{cache.absolute().as_uri()}?mode=ro", uri=True, **kwargs)
    else:
        conn = sqlcipher.connect(str(cache), **kwargs)
    if key is not None:
        apply_key(conn, key)
    return conn


# ------------------------------------------------------------------ pages, for damaging them

PAGE_SIZE = 4096
RESERVE = 80  # SQLCipher 4: a 16-byte IV and a 64-byte HMAC-SHA512 at the end of every page


def _page(data: bytes, number: int, key: bytes) -> bytes:
    """Page *number* decrypted (AES-256-CBC, its IV at the start of the reserved bytes);
    the HMAC is not checked. Page 1's first 16 bytes (the salt) come back as zeros."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    raw = data[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    start = 16 if number == 1 else 0
    iv = raw[PAGE_SIZE - RESERVE:PAGE_SIZE - RESERVE + 16]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(raw[start:PAGE_SIZE - RESERVE]) + decryptor.finalize()
    return b"\0" * start + plain


def leaf_pages(cache: Path, name: str, folder: Path | None = None) -> list[int]:
    """The leaf pages of table or index *name*, in key order (SQLite's dbstat is not in
    this SQLCipher build): the b-tree walked from its root page, pages decrypted here."""
    cache = Path(cache)
    key = key_of(folder or cache.parent)
    conn = connect(cache, folder=folder)
    [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                             (name,)).fetchall()
    conn.close()
    data = cache.read_bytes()
    leaves: list[int] = []

    def walk(number: int) -> None:
        page = _page(data, number, key)
        at = 100 if number == 1 else 0
        kind = page[at]
        cells = int.from_bytes(page[at + 3:at + 5], "big")
        if kind in (0x0D, 0x0A):
            leaves.append(number)
            return
        pointers = at + 12
        for i in range(cells):
            cell = int.from_bytes(page[pointers + 2 * i:pointers + 2 * i + 2], "big")
            walk(int.from_bytes(page[cell:cell + 4], "big"))
        walk(int.from_bytes(page[at + 8:at + 12], "big"))  # the right-most child

    walk(root)
    return leaves


def damage_pages(cache: Path, pages: list[int]) -> None:
    """Overwrite most of each page: it fails its HMAC, as a damaged sector would."""
    with open(cache, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * PAGE_SIZE + 8)
            f.write(b"\xff" * (PAGE_SIZE // 2))
