"""Dialect-independent fault injection and request logging, as a pure ASGI middleware.

It sits outside routing so every dialect gets the same switches, and so it can see the raw
`receive`/`send` pair: that is the only place where "the work was done, then the connection
vanished" or "the body was cut in half" can be produced faithfully.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FaultKind = Literal["status", "delay", "drop", "truncate", "unauthorized", "hold"]
FAULT_KINDS: tuple[str, ...] = ("status", "delay", "drop", "truncate", "unauthorized", "hold")
HOLD_LIMIT_S = 60.0  # a held request goes on by itself after this, so no test can hang
EXEMPT_PREFIX = "/__admin"


@dataclass
class FaultRule:
    """One switch; `remaining=None` means "every matching request until cleared"."""

    kind: FaultKind
    remaining: int | None = 1
    path: str | None = None
    method: str | None = None
    status: int = 500
    retry_after: str | None = None
    after_work: bool = False
    seconds: float = 0.0
    id: int = 0
    # "hold": the matching request waits, before any work, until the test releases it.
    held: int = 0
    released: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path in path


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int | None = None
    fault: str | None = None
    id: int = 0


@dataclass
class FaultBoard:
    """Active rules plus the request log; shared by the middleware and the admin routes."""

    rules: list[FaultRule] = field(default_factory=list)
    log: list[RequestRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1
    holds: dict[int, FaultRule] = field(default_factory=dict)

    def add(self, rule: FaultRule) -> FaultRule:
        if rule.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {rule.kind!r}")
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self.rules.append(rule)
            if rule.kind == "hold":
                self.holds[rule.id] = rule
        return rule

    def release(self, rule_id: int) -> FaultRule | None:
        """Let the requests a hold rule keeps (and any it would keep later) go on."""
        with self._lock:
            rule = self.holds.get(rule_id)
            if rule is not None:
                rule.released = True
        return rule

    def clear_rules(self) -> None:
        with self._lock:
            self.rules.clear()

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.log.clear()
            for rule in self.holds.values():
                rule.released = True
            self.holds.clear()

    def take(self, method: str, path: str) -> tuple[list[FaultRule], FaultRule | None]:
        """Consume the matching delays and at most one terminal fault for this request."""
        delays: list[FaultRule] = []
        terminal: FaultRule | None = None
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                if rule.kind in ("delay", "hold"):
                    delays.append(rule)
                elif terminal is None:
                    terminal = rule
                else:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
            self.rules = [r for r in self.rules if r.remaining is None or r.remaining > 0]
        return delays, terminal

    def record(self, method: str, path: str, query: str) -> RequestRecord:
        with self._lock:
            entry = RequestRecord(method=method, path=path, query=query, id=len(self.log) + 1)
            self.log.append(entry)
        return entry

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(entry) for entry in self.log]

    def rules_snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self.rules]


def _json_response_messages(
    status: int, detail: str, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> list[Message]:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


class FaultMiddleware:
    """Wraps the whole app; admin routes are exempt from faults and from the log."""

    def __init__(self, app: ASGIApp, board: FaultBoard) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIX):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        entry = self.board.record(method, path, scope.get("query_string", b"").decode("latin-1"))
        delays, rule = self.board.take(method, path)

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = int(message["status"])
            await send(message)

        if rule is not None:
            entry.fault = rule.kind if rule.kind != "status" else f"status-{rule.status}"
        elif delays:
            entry.fault = "+".join(sorted({d.kind for d in delays}))  # "delay", "hold"
        for hold in (d for d in delays if d.kind == "hold"):
            hold.held += 1
            waited = 0.0
            while not hold.released and waited < HOLD_LIMIT_S:
                await asyncio.sleep(0.01)
                waited += 0.01
            hold.held -= 1
        delays = [d for d in delays if d.kind == "delay"]
        delay_after = sum(d.seconds for d in delays if d.after_work)
        delay_before = sum(d.seconds for d in delays if not d.after_work)
        if delay_before:
            await asyncio.sleep(delay_before)

        try:
            await self._handle(scope, receive, logging_send, send, entry, rule, delay_after)
        except Exception:
            if entry.status is None and entry.fault != "drop":
                entry.status = 500  # the app crashed; ServerErrorMiddleware answers 500
            raise

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        logging_send: Send,
        raw_send: Send,
        entry: RequestRecord,
        rule: FaultRule | None,
        delay_after: float,
    ) -> None:
        if rule is None:
            if not delay_after:
                await self.app(scope, receive, logging_send)
                return
            captured = await _capture(self.app, scope, receive, keep_body=True)
            await asyncio.sleep(delay_after)
            for message in captured:
                await logging_send(message)
            return

        if rule.kind in ("status", "unauthorized") and not rule.after_work:
            await _drain(receive)
            await self._send_fault(rule, logging_send)
            return

        keep = rule.kind == "truncate"
        captured = await _capture(self.app, scope, receive, keep_body=keep)
        if delay_after:
            await asyncio.sleep(delay_after)
        if rule.kind == "drop":
            entry.status = None
            await _drop_connection(receive, raw_send)
        elif rule.kind == "truncate":
            for message in _truncated(captured):
                await logging_send(message)
        else:
            await self._send_fault(rule, logging_send)

    async def _send_fault(self, rule: FaultRule, send: Send) -> None:
        if rule.kind == "unauthorized":
            messages = _json_response_messages(
                401, "Invalid or expired token", [(b"www-authenticate", b"Bearer")]
            )
        else:
            extra = []
            if rule.retry_after is not None:
                extra.append((b"retry-after", str(rule.retry_after).encode()))
            if rule.status == 503:
                detail = "Service temporarily unavailable"
            elif rule.status >= 500:
                detail = "Internal server error: injected fault"
            elif rule.status == 400:
                detail = "Storage client error: injected fault"
            else:
                detail = "Injected fault"
            messages = _json_response_messages(rule.status, detail, extra)
        for message in messages:
            await send(message)


async def _drain(receive: Receive) -> None:
    """Read the whole request body so the answer is not racing an unfinished upload."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _capture(app: ASGIApp, scope: Scope, receive: Receive, keep_body: bool) -> list[Message]:
    """Run the real work, swallowing its answer (kept only when it will be replayed)."""
    captured: list[Message] = []

    async def capturing_send(message: Message) -> None:
        if message["type"] == "http.response.start" or keep_body:
            captured.append(dict(message))

    await app(scope, receive, capturing_send)
    return captured


def _truncated(captured: list[Message]) -> list[Message]:
    """Same status and headers, half the body, with a Content-Length that matches the cut."""
    start = next(m for m in captured if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
    cut = body[: len(body) // 2]
    headers = [
        (name, value) for name, value in start.get("headers", []) if name.lower() != b"content-length"
    ]
    headers.append((b"content-length", str(len(cut)).encode()))
    return [
        {"type": "http.response.start", "status": start["status"], "headers": headers},
        {"type": "http.response.body", "body": cut, "more_body": False},
    ]


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Close the socket without a single response byte.

    uvicorn's `receive` is a bound method of its request cycle, which owns the transport;
    closing that is the only way to get "connection closed, no response" out of an ASGI
    server. Elsewhere we fall back to starting a response and dying mid-body.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        for _ in range(50):
            if getattr(cycle, "disconnected", True):
                return
            await asyncio.sleep(0)
        if cycle is not None and hasattr(cycle, "disconnected"):
            cycle.disconnected = True
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1000")],
        }
    )
    raise ConnectionAbortedError("injected connection drop")
