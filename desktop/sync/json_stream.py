"""A list answer decoded record by record as its bytes arrive, never whole.

A case list of 100,000 cases is ~30 MiB of JSON; decoding it whole (``json.loads``) holds the
text, every record as Python objects and the rows made from them at once (a first sync of
100,000 cases grew by 230 MiB). Here the items of one array member of the top-level object
(``{"cases": [...]}``) are handed out one at a time while the rest of the answer is still on
its way: only the record being read and the bytes not yet decoded are held.

Each record is decoded by the standard library's C decoder (``raw_decode`` on the text held
so far), with the same guarantees as :func:`desktop.sync.json_answer.decode_json`:

- a value nested too deeply for the C decoder is walked level by level and becomes
  :data:`~desktop.sync.json_answer.TOO_DEEP` in a tainted container, so its record alone is
  set aside (the incremental parsers tried build a record 20,000 levels deep in ~1 GiB:
  they keep the path to every value as text, quadratic in the depth);
- an answer made of far more objects and arrays than any real answer holds is refused as it
  arrives (:class:`~desktop.sync.json_answer.TooDense`), before it can explode in memory;
- text that is not JSON, or ends early, is a ``ValueError``; the caller has applied nothing
  that it cannot roll back.

A record split across two pieces is decoded again once more text has come; the held text
must first double, so a long record costs linear time, never quadratic.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from typing import Any

from desktop.sync.json_answer import (
    BYTES_PER_CONTAINER,
    DENSITY_CHECKED_FROM,
    TooDense,
    _skip_value,
    _walk,
    decode_json,
)

_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


class NotAList(ValueError):
    """The member that should hold the records holds something else."""


class NotAnObject(ValueError):
    """The answer is JSON, but not an object."""


class _Text:
    """The decoded text not yet consumed, filled from the byte pieces on demand."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._decoder: codecs.IncrementalDecoder | None = None
        self._head = b""
        self.buf = ""
        self.pos = 0
        self.done = False
        self._bytes = 0
        self._containers = 0

    def more(self) -> bool:
        """Append the next piece's text; False once the answer has ended."""
        while not self.done:
            piece = next(self._pieces, None)
            if piece is None:
                self.done = True
                text = self._finish()
            else:
                self._check_density(piece)
                text = self._decode(piece)
            if text:
                self.buf = self.buf[self.pos:] + text
                self.pos = 0
                return True
        return False

    def _check_density(self, piece: bytes) -> None:
        self._bytes += len(piece)
        self._containers += piece.count(b"{") + piece.count(b"[")  # strings count too
        if (self._bytes > DENSITY_CHECKED_FROM
                and self._containers > self._bytes // BYTES_PER_CONTAINER):
            raise TooDense(f"{self._containers} objects or arrays in {self._bytes} bytes")

    def _decode(self, piece: bytes) -> str:
        if self._decoder is None:
            self._head += piece
            if len(self._head) < 4:
                return ""
            piece, self._head = self._head, b""
            self._decoder = codecs.getincrementaldecoder(json.detect_encoding(piece))("strict")
            return self._decoder.decode(piece).removeprefix("\ufeff")
        return self._decoder.decode(piece)

    def _finish(self) -> str:
        if self._decoder is None:
            head, self._head = self._head, b""
            return head.decode(json.detect_encoding(head)).removeprefix("\ufeff") if head else ""
        return self._decoder.decode(b"", final=True)

    def char(self) -> str:
        """The next character after blanks ("" at the end of the answer)."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _SPACE:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self.more():
                return ""

    def expect(self, chars: str, what: str) -> str:
        found = self.char()
        if not found or found not in chars:
            raise ValueError(f"expected {what}")
        self.pos += 1
        return found

    def value(self) -> Any:
        """The next whole value, read through the C decoder (or walked, when too deep)."""
        if not self.char():
            raise ValueError("the answer ends where a value should be")
        tried_at = 0  # text held at the last failed try: decoded again once it has doubled
        while True:
            held = len(self.buf) - self.pos
            if self.done or held >= 2 * tried_at:
                try:
                    value, end = _DECODER.raw_decode(self.buf, self.pos)
                    if end < len(self.buf) or self.done:  # a number may go on in the next piece
                        self.pos = end
                        return value
                except RecursionError:
                    walked = self._walked()
                    if walked is not None:
                        return walked[0]
                except ValueError:
                    if self.done:
                        raise
                tried_at = held
            self.more()  # once the answer has ended, the next try decides

    def _walked(self) -> tuple[Any] | None:
        """A value too deep for the C decoder, walked once it is whole; None until then."""
        try:
            end = _skip_value(self.buf, self.pos)
            value, end = _walk(self.buf[:end], self.pos, 2)  # a record's level in its answer
        except (ValueError, IndexError):
            if self.done:
                raise ValueError("the answer ends in the middle of a value") from None
            return None
        self.pos = end
        return (value,)


# An answer this small is decoded whole, in C (``decode_json``, with the same guards): record
# by record in Python costs ~3.5 ms more per 1,000 records, and holding a few MiB is nothing.
WHOLE_BELOW = 4 << 20


def array_items(pieces: Iterable[bytes], key: str) -> Iterator[Any]:
    """The items of the array ``key`` of the top-level object the byte ``pieces`` spell, one at
    a time as they arrive. The other members are read and dropped; a ``key`` that is absent or
    null has no items. Raises :class:`NotAnObject`, :class:`NotAList`, ``TooDense`` or
    ``ValueError`` (not JSON, cut short, extra text after it) when the answer is found bad,
    which may be after some items were handed out."""
    pieces = iter(pieces)
    head: list[bytes] = []
    held = containers = 0
    for piece in pieces:
        head.append(piece)
        held += len(piece)
        containers += piece.count(b"{") + piece.count(b"[")  # an upper bound, as the stream's
        if held > DENSITY_CHECKED_FROM and containers > held // BYTES_PER_CONTAINER:
            raise TooDense(f"{containers} objects or arrays in {held} bytes")
        if held >= WHOLE_BELOW:
            break
    else:  # the whole answer is in, and small
        yield from _whole_items(b"".join(head), key)
        return
    yield from _streamed_items(_handed_on(head, pieces), key)


def _handed_on(head: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    """The pieces read ahead, each let go as it is handed on, then the rest."""
    head.reverse()
    while head:
        yield head.pop()
    yield from rest


def _whole_items(body: bytes, key: str) -> Iterator[Any]:
    if body.count(b'"%s"' % key.encode()) > 1:  # the key maybe listed twice: the stream says
        yield from _streamed_items([body], key)
        return
    if not body.strip():
        raise ValueError("the answer is empty")
    answer = decode_json(body)
    if not isinstance(answer, dict):  # (a dict holding a record nested too deeply is one)
        raise NotAnObject("the answer is not an object")
    items = answer.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        raise NotAList(f"'{key}' is not a list")
    yield from items


def _streamed_items(pieces: Iterable[bytes], key: str) -> Iterator[Any]:
    text = _Text(pieces)
    if text.char() != "{":
        if not text.char():
            raise ValueError("the answer is empty")
        text.value()  # JSON that is no object, or no JSON at all
        raise NotAnObject("the answer is not an object")
    text.pos += 1
    listed = False
    if text.char() == "}":
        text.pos += 1
    else:
        while True:
            if text.char() != '"':
                raise ValueError("expected a member name")
            name = text.value()
            text.expect(":", "':'")
            if name == key and text.char() == "[":
                if listed:
                    raise ValueError(f"'{key}' is listed twice")
                listed = True
                yield from _items(text)
            else:
                value = text.value()
                if name == key and value is not None:
                    raise NotAList(f"'{key}' is not a list")
            if text.expect(",}", "',' or '}'") == "}":
                break
    if text.char():
        raise ValueError("extra data after the answer")


def _items(text: _Text) -> Iterator[Any]:
    text.pos += 1  # the '['
    if text.char() == "]":
        text.pos += 1
        return
    while True:
        yield text.value()
        if text.expect(",]", "',' or ']'") == "]":
            return
