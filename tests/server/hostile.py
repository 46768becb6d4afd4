"""Hostile answers: the reference server turned into an attacker on the network, one mode at a
time (`/__admin/hostile`), for the hostile-server suite (tests/e2e/test_hostile_server.py).

Each mode replaces or poisons the real answer of matching requests, below routing, so the
real state (cases, files, a queued edit sent before the pull) stays what the client sees
otherwise. Sizes come from the test: `make test` proves each cap with small bombs and lowered
caps; the full-size figures in the report use the issue's sizes.

| mode | what the client gets |
|---|---|
| `gzip_bomb` | 200, `Content-Encoding: gzip`, `size` bytes of JSON-ish blanks compressed ~1000:1 |
| `huge_body` | 200, `size` bytes of an endless JSON list |
| `dense_body` | 200, a valid case list of `size` bytes of empty records: `{},{},…` |
| `drip` | 200 with a plausible length, then one byte every `seconds` |
| `stall` | the real answer, its first half at once, the rest after `seconds` (a slow line) |
| `record` | the real answer with one poisoned record (`record`: see RECORDS, or `text`) first in its list |
| `oversize_download` | a file's bytes: a PDF head then `size` bytes, whatever was declared |
| `gzip_download` | a file's bytes as a gzip bomb of `size` decompressed bytes |
| `program_download` | a file's bytes replaced by a Windows program's head (45 bytes) |
"""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODES = ("gzip_bomb", "huge_body", "dense_body", "drip", "record", "oversize_download", "gzip_download",
         "program_download", "stall")
DEEP = 200_000


def _deep() -> str:
    return "[" * DEEP + "]" * DEEP


# Poisoned records, as JSON text (a 200,000-deep value cannot go through json.dumps).
RECORDS: dict[str, Callable[[], str]] = {
    "age_huge": lambda: json.dumps({"case_id": "hostile-age", "patient_name": "Hostile Age",
                                    "patient_age": 10**20, "patient_gender": "female",
                                    "status": "pending", "updated_at": "2026-01-01T00:00:00Z"}),
    "age_float": lambda: json.dumps({"case_id": "hostile-float", "patient_name": "Hostile Float",
                                     "patient_age": 1e300, "patient_gender": "male",
                                     "status": "pending", "updated_at": "2026-01-01T00:00:00Z"}),
    "no_id": lambda: json.dumps({"case_id": {"nested": True}, "patient_name": "No Id",
                                 "patient_age": 40}),
    "deep": lambda: ('{"case_id": "hostile-deep", "patient_name": "Deep", "patient_age": 3, '
                     '"case_summary": ' + _deep() + "}"),
    # File records, put into a case's file list (GET /cases/cases/{id} and /cases/files/{id}).
    "file_size_huge": lambda: json.dumps({"file_id": "hostile-size", "file_name": "big.pdf",
                                          "file_type": "application/pdf",
                                          "file_size": 10**20, "file_url": "/files/x/big.pdf",
                                          "file_category": "lab"}),
    "file_url_bad": lambda: json.dumps({"file_id": "hostile-url", "file_name": "bad.pdf",
                                        "file_type": "application/pdf", "file_size": 10,
                                        "file_url": "http://[::1/lab.pdf",
                                        "file_category": "lab"}),
}


@dataclass
class HostileRule:
    mode: str
    path: str | None = None
    remaining: int | None = None
    size: int = 1 << 20
    seconds: float = 1.0
    record: str | None = None
    text: str | None = None  # mode "record": this JSON text instead of a named record


class HostileBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[HostileRule] = []

    def add(self, rule: HostileRule) -> None:
        if rule.mode not in MODES:
            raise ValueError(f"unknown hostile mode {rule.mode!r}")
        if rule.mode == "record" and rule.text is None and rule.record not in RECORDS:
            raise ValueError(f"unknown record {rule.record!r}")
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(self, path: str) -> HostileRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.path is not None and rule.path not in path:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.rules.remove(rule)
                return rule
        return None


class HostileIn(BaseModel):
    mode: str
    path: str | None = None
    n: int | None = None
    size: int = 1 << 20
    seconds: float = 1.0
    record: str | None = None
    text: str | None = None


def build_hostile_router(board: HostileBoard) -> APIRouter:
    router = APIRouter(prefix="/__admin")

    @router.post("/hostile")
    def add(rule: HostileIn) -> dict[str, Any]:
        board.add(HostileRule(rule.mode, rule.path, rule.n, rule.size, rule.seconds,
                              rule.record, rule.text))
        return {"ok": True}

    @router.delete("/hostile")
    def clear() -> dict[str, Any]:
        board.clear()
        return {"ok": True}

    return router


class HostileMiddleware:
    def __init__(self, app: ASGIApp, board: HostileBoard) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__admin"):
            await self.app(scope, receive, send)
            return
        rule = self.board.take(scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.mode == "record":
            text = rule.text if rule.text is not None else RECORDS[rule.record or ""]()
            await _poisoned(self.app, scope, receive, send, text)
            return
        if rule.mode == "stall":
            await _stalled(self.app, scope, receive, send, rule.seconds)
            return
        await _drain(receive)
        if rule.mode == "drip":
            await _drip(send, rule.seconds)
        elif rule.mode in ("gzip_bomb", "gzip_download"):
            head = b'{"cases": [' if rule.mode == "gzip_bomb" else b"%PDF-1.4\n"
            await _stream(send, _gzip_bomb(head, rule.size), [(b"content-encoding", b"gzip")])
        elif rule.mode == "huge_body":
            await _stream(send, _endless(rule.size), [])
        elif rule.mode == "dense_body":
            await _stream(send, _dense(rule.size), [])
        elif rule.mode == "oversize_download":
            await _stream(send, _pdf_filler(rule.size), [])
        elif rule.mode == "program_download":
            body = b"MZ\x90\x00" + b"\x00" * 41  # 45 bytes: as a small file declares
            await _stream(send, iter([body]), [(b"content-length", str(len(body)).encode())])


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _stream(send: Send, pieces: Iterator[bytes],
                  headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), *headers]})
    for piece in pieces:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _drip(send: Send, seconds: float) -> None:
    body = b'{"cases": []}' + b" " * 100_000
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    for byte in body:
        await send({"type": "http.response.body", "body": bytes([byte]), "more_body": True})
        await asyncio.sleep(seconds)


@cache
def _compressed_blanks(head: bytes, size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [z.compress(head)]
    block = b" " * (1 << 20)
    left = size
    while left > 0:
        out.append(z.compress(block[:min(left, len(block))]))
        left -= len(block)
    out.append(z.flush())
    return b"".join(out)


def _gzip_bomb(head: bytes, size: int) -> Iterator[bytes]:
    data = _compressed_blanks(head, size)
    for start in range(0, len(data), 64 * 1024):
        yield data[start:start + 64 * 1024]


def _endless(size: int) -> Iterator[bytes]:
    yield b'{"cases": ['
    record = b'{"case_id": "x", "patient_name": "Endless", "patient_age": 1},'
    block = record * (65536 // len(record))
    sent = 0
    while sent < size:
        yield block
        sent += len(block)
    yield record[:-1] + b"]}"


def _dense(size: int) -> Iterator[bytes]:
    yield b'{"cases": ['
    block = b"{}," * 21845
    sent = 0
    while sent < size:
        yield block
        sent += len(block)
    yield b"{}]}"


def _pdf_filler(size: int) -> Iterator[bytes]:
    yield b"%PDF-1.4\n"
    block = b"%" + b"x" * 65534 + b"\n"
    sent = 0
    while sent < size:
        yield block
        sent += len(block)


async def _real_answer(app: ASGIApp, scope: Scope,
                       receive: Receive) -> tuple[Message, bytes]:
    """What the server itself answers: its start message and its whole body."""
    captured: list[Message] = []

    async def capture(message: Message) -> None:
        captured.append(dict(message))

    await app(scope, receive, capture)
    start = next(m for m in captured if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
    return start, body


async def _poisoned(app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                    record: str) -> None:
    """The real answer, with ``record`` first in its ``cases`` or ``files`` list."""
    start, body = await _real_answer(app, scope, receive)
    text = body.decode()
    for key in ('"cases": [', '"files": [', '"cases":[', '"files":['):
        at = text.find(key)
        if at >= 0:
            cut = at + len(key)
            rest = text[cut:].lstrip()
            text = text[:cut] + record + ("" if rest.startswith("]") else ",") + text[cut:]
            break
    out = text.encode()
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(out)).encode()))
    await send({"type": "http.response.start", "status": start["status"], "headers": headers})
    await send({"type": "http.response.body", "body": out, "more_body": False})


async def _stalled(app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                   seconds: float) -> None:
    """The real answer, its second half held back ``seconds`` after the first."""
    start, body = await _real_answer(app, scope, receive)
    await send(start)
    half = len(body) // 2
    await send({"type": "http.response.body", "body": body[:half], "more_body": True})
    await asyncio.sleep(seconds)
    await send({"type": "http.response.body", "body": body[half:], "more_body": False})
