"""Stored documents encrypted at rest: AES-256-GCM in segments, named by a keyed hash.

A sealed blob is a 44-byte header (magic, segment size, a random 32-byte salt) followed by
segments of at most ``SEGMENT`` plaintext bytes, each sealed with AES-256-GCM under a key made
for this one file (HKDF of the store's key and the salt), so nonces never repeat across files.
Each segment's nonce is its index and a final-segment flag (the STREAM construction): a
segment moved, dropped, repeated or cut off, or a file cut at a segment boundary, fails its
tag. The header is authenticated with every segment, and the final one also carries the
SHA-256 of the whole content (sealed with it), so one document's file put in another's place
is told apart too.

Memory stays flat: writing seals one segment at a time into a reused buffer, and reading
decrypts only the segment asked for (pydicom and the uploads read in pieces, and seek).

A blob's name is HMAC-SHA256(names key, SHA-256 of the content): equal documents still share
one file, and the name says nothing about the content to anyone without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.errors import CaseDeskError

MAGIC = b"CDBLOB\x00\x01"
SEGMENT = 1 << 20
TAG = 16
SALT = 32
DIGEST = 32  # the content's SHA-256, sealed at the end of the final segment
HEADER = len(MAGIC) + 4 + SALT
_MAX_SEGMENT = 64 << 20


class BlobDamaged(CaseDeskError):
    """A stored document's bytes fail their check (altered, cut short, another file in its
    place): they are neither shown nor sent."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (
            "This document's stored copy on this computer is damaged or was altered (it fails "
            "its encryption check), so it is neither shown nor sent. Attach the file again, or "
            "download it again from the server."))


@dataclass(frozen=True, repr=False)
class BlobKeys:
    """The store's two keys: one seals the bytes, one names the files."""

    seal: bytes
    names: bytes

    def __repr__(self) -> str:
        return "BlobKeys(…)"

    def name_for(self, sha256: str) -> str:
        return hmac.new(self.names, sha256.encode("ascii"), hashlib.sha256).hexdigest()


def is_sealed(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _file_aead(seal: bytes, salt: bytes) -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
               info=b"casedesk blob file").derive(seal)
    return AESGCM(key)


def _nonce(index: int, final: bool) -> bytes:
    return struct.pack(">QB3x", index, 1 if final else 0)




class Sealer:
    """Seals a stream segment by segment; the caller writes what it hands back, in order.

    The last full segment is held back until more bytes come or the stream ends, so the
    final flag always sits on the real last segment.
    """

    def __init__(self, keys: BlobKeys, segment: int = SEGMENT) -> None:
        self.segment = segment
        salt = os.urandom(SALT)
        self.header = MAGIC + struct.pack(">I", segment) + salt
        self._aead = _file_aead(keys.seal, salt)
        self._pending = bytearray(segment + DIGEST)
        self._filled = 0
        self._index = 0
        self._out = bytearray(segment + DIGEST + TAG)

    def update(self, data: bytes | bytearray | memoryview) -> Iterator[memoryview]:
        view = memoryview(data)
        while view:
            if self._filled == self.segment:
                yield self._seal(final=False)
            take = min(self.segment - self._filled, len(view))
            self._pending[self._filled:self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]

    def finish(self, digest: bytes) -> memoryview:
        """The final segment, which carries the SHA-256 of everything sealed."""
        self._pending[self._filled:self._filled + DIGEST] = digest
        self._filled += DIGEST
        return self._seal(final=True)

    def _seal(self, final: bool) -> memoryview:
        plain = memoryview(self._pending)[:self._filled]
        out = memoryview(self._out)[:self._filled + TAG]
        self._aead.encrypt_into(_nonce(self._index, final), plain, self.header, out)
        self._index += 1
        self._filled = 0
        return out


def plain_size(sealed_size: int, segment: int) -> tuple[int, int]:
    """(plaintext bytes, segments) of a sealed file of *sealed_size* bytes; ValueError when
    no sealed file has that size."""
    body = sealed_size - HEADER
    if body < TAG + DIGEST:
        raise ValueError("too short")
    step = segment + TAG
    # The final segment holds up to a full segment plus the digest.
    count = max(1, (body - DIGEST + step - 1) // step)
    last = body - (count - 1) * step
    if not TAG + DIGEST <= last <= step + DIGEST:
        raise ValueError("no whole final segment")
    return body - count * TAG - DIGEST, count


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed blob, read and checked one segment at a time; seekable.

    With *sha256* (hex) known, the final segment is checked at once: the file is whole and
    is that document's. Every segment read is checked before any of its bytes are handed
    out; a failure raises :class:`BlobDamaged`.
    """

    def __init__(self, path: Path, keys: BlobKeys, sha256: str | None = None) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        try:
            header = _read_exact(self._file, HEADER)
            if header is None or not is_sealed(header):
                raise BlobDamaged()
            segment = struct.unpack(">I", header[len(MAGIC):len(MAGIC) + 4])[0]
            if not 0 < segment <= _MAX_SEGMENT:
                raise BlobDamaged()
            self.segment = segment
            self._header = header
            self._aead = _file_aead(keys.seal, header[len(MAGIC) + 4:])
            try:
                self.size, self._count = plain_size(os.fstat(self._file.fileno()).st_size,
                                                    segment)
            except ValueError:
                raise BlobDamaged() from None
            self._digest = bytes.fromhex(sha256) if sha256 else None
            self._pos = 0
            self._cached: tuple[int, bytes] | None = None
            self.sealed_digest = b""
            if self._digest is not None:
                self._segment(self._count - 1)
        except BaseException:
            self._file.close()
            raise

    # -- io.RawIOBase

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        # Not the sealed file's descriptor: its size is not the document's (httpx measures
        # a body by seeking instead).
        raise io.UnsupportedOperation("a sealed blob has no plaintext file descriptor")

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        position = base + offset
        if position < 0:
            raise ValueError("negative seek position")
        self._pos = position
        return position

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        done = 0
        while done < len(out) and self._pos < self.size:
            index, skip = divmod(self._pos, self.segment)
            plain = self._segment(index)
            take = min(len(plain) - skip, len(out) - done)
            out[done:done + take] = plain[skip:skip + take]
            done += take
            self._pos += take
        return done

    def close(self) -> None:
        self._file.close()
        self._cached = None
        super().close()

    # -- segments

    def _segment(self, index: int) -> bytes:
        """Segment *index*'s content, checked (the final one without its digest)."""
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        from cryptography.exceptions import InvalidTag

        final = index == self._count - 1
        step = self.segment + TAG
        self._file.seek(HEADER + index * step)
        sealed = _read_exact(self._file, step) if not final else self._file.read()
        if sealed is None:
            raise BlobDamaged()
        try:
            plain = self._aead.decrypt(_nonce(index, final), sealed, self._header)
        except InvalidTag:
            raise BlobDamaged() from None
        if final:
            plain, digest = plain[:-DIGEST], plain[-DIGEST:]
            self.sealed_digest = digest
            if self._digest is not None and not hmac.compare_digest(digest, self._digest):
                raise BlobDamaged()  # a whole, valid file, but another document's
        self._cached = (index, plain)
        return plain

    def digest_all(self) -> str:
        """Read everything, checking each segment and the SHA-256 sealed at the end against
        what was read; that SHA-256 (hex). For a blob whose hash is not known (a store
        being converted, checked or repaired)."""
        digest = hashlib.sha256()
        for index in range(self._count):
            digest.update(self._segment(index))
        self._cached = None
        if not hmac.compare_digest(digest.digest(), self.sealed_digest):
            raise BlobDamaged()
        return digest.hexdigest()


def _read_exact(f: Any, n: int) -> bytes | None:
    parts: list[bytes] = []
    left = n
    while left > 0:
        part = f.read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
