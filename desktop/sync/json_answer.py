"""JSON answers decoded so that over-deep nesting costs one record, not the whole answer.

``json.loads`` recurses (in C) once per nesting level and gives up with RecursionError near
Python's recursion limit (about 1,000 levels): one record nested 200,000 deep would make every
sync fail. So the usual answer is decoded by ``json.loads`` at full speed, and only when that
fails on nesting is the answer walked again level by level: each value is handed to the C
decoder on its own, and a value still too deep :data:`MAX_WALK` levels down becomes
:data:`TOO_DEEP`. A container built by that walk that holds one is a :class:`TaintedDict` or
:class:`TaintedList`, so a record parser sets aside the record that holds it (in O(1)) while its
neighbours are used as usual. The walk skips a too-deep value with a regular-expression scan,
never recursion, so its cost stays linear in the answer's size (which http.py caps).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_WALK = 64  # levels walked by hand below the failing value before giving up on it
# An answer with more objects and arrays than one per this many bytes is refused unparsed: a
# case record takes 150 bytes and more, but "{}," repeated takes 3 and costs 70 bytes of
# memory each (127 MiB of it: 3.3 GiB).
BYTES_PER_CONTAINER = 32
DENSITY_CHECKED_FROM = 1 << 20


class _TooDeep:
    """Stands for a value nested deeper than Case Desk reads."""

    def __repr__(self) -> str:
        return "TOO_DEEP"


TOO_DEEP = _TooDeep()


class TaintedDict(dict):  # type: ignore[type-arg]
    """An object holding (somewhere inside) a value that was too deep to read."""


class TaintedList(list):  # type: ignore[type-arg]
    """An array holding (somewhere inside) a value that was too deep to read."""


def is_too_deep(value: Any) -> bool:
    return value is TOO_DEEP or isinstance(value, (TaintedDict, TaintedList))


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
# A string, a run of opening brackets or a run of closing ones: all a skip needs to see.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]+|[\]}]+')


class TooDense(ValueError):
    """An answer made of far more (empty) objects or arrays than any real answer holds."""


def decode_json(body: bytes | bytearray | str) -> Any:
    """``json.loads``, except that values nested too deeply become :data:`TOO_DEEP` in tainted
    containers instead of failing the whole answer. Raises ValueError for what is not JSON,
    :class:`TooDense` for an answer built to explode in memory when parsed."""
    if isinstance(body, (bytes, bytearray)) and len(body) > DENSITY_CHECKED_FROM:
        containers = body.count(b"{") + body.count(b"[")  # an upper bound: strings count too
        if containers > len(body) // BYTES_PER_CONTAINER:
            raise TooDense(f"{containers} objects or arrays in {len(body)} bytes")
    try:
        return json.loads(body)
    except RecursionError:
        pass
    text = body if isinstance(body, str) else body.decode(json.detect_encoding(body))
    text = text.removeprefix("\ufeff")
    try:
        value, end = _walk(text, _skip_space(text, 0), 0)
    except IndexError:
        raise ValueError("the answer ends in the middle of a value") from None
    if _skip_space(text, end) != len(text):
        raise ValueError("extra data after the answer")
    return value


def nesting_exceeds(value: Any, depth: int) -> bool:
    """Is ``value`` nested more than ``depth`` levels (checked without recursion)?"""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if is_too_deep(item):
            return True
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level >= depth:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _walk(text: str, pos: int, level: int) -> tuple[Any, int]:
    if level >= MAX_WALK:
        return TOO_DEEP, _skip_value(text, pos)
    try:
        return _DECODER.raw_decode(text, pos)
    except RecursionError:
        pass
    opening = text[pos]
    if opening == "[":
        items: list[Any] = []
        pos = _skip_space(text, pos + 1)
        while True:
            value, pos = _walk(text, pos, level + 1)
            items.append(value)
            pos = _skip_space(text, pos)
            if text[pos] == "]":
                pos += 1
                break
            if text[pos] != ",":
                raise ValueError("expected ',' or ']'")
            pos = _skip_space(text, pos + 1)
        tainted = any(is_too_deep(v) for v in items)
        return (TaintedList(items) if tainted else items), pos
    if opening == "{":
        obj: dict[str, Any] = {}
        pos = _skip_space(text, pos + 1)
        while True:
            if text[pos] != '"':
                raise ValueError("expected a name")
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip_space(text, pos)
            if text[pos] != ":":
                raise ValueError("expected ':'")
            obj[key], pos = _walk(text, _skip_space(text, pos + 1), level + 1)
            pos = _skip_space(text, pos)
            if text[pos] == "}":
                pos += 1
                break
            if text[pos] != ",":
                raise ValueError("expected ',' or '}'")
            pos = _skip_space(text, pos + 1)
        tainted = any(is_too_deep(v) for v in obj.values())
        return (TaintedDict(obj) if tainted else obj), pos
    raise ValueError("not a JSON value")


def _skip_value(text: str, pos: int) -> int:
    """The end of the value at ``pos``, found by counting brackets outside strings."""
    if text[pos] not in "[{":
        return int(_DECODER.raw_decode(text, pos)[1])  # a scalar is never deep
    depth = 0
    for match in _TOKEN.finditer(text, pos):
        token = match.group()
        if token[0] == '"':
            continue
        if token[0] in "[{":
            depth += len(token)
        elif len(token) >= depth:
            return match.start() + depth
        else:
            depth -= len(token)
    raise ValueError("the answer ends inside a value")
