"""State of the Care360 (dialect 2) reference server: API keys, one-time codes, tokens, files.

Files live in SQLite plus one blob per file on disk (a 1 GiB upload never sits in memory);
the short-lived auth state (codes, refresh-token families, the access-token generation) is
kept in memory, since a server restart signing everyone out is what a real one would do too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_API_KEY = "cv-test-key"
ACCESS_TTL = 15 * 60
REFRESH_TTL = 30 * 24 * 3600
OTP_TTL = 10 * 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    case_id TEXT,
    file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cases (
    owner TEXT NOT NULL,
    case_id TEXT NOT NULL,
    PRIMARY KEY (owner, case_id)
);
"""


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class RefreshEntry:
    owner: str
    family: str
    expires: float
    used: bool = False


@dataclass
class AuthState:
    """Codes, refresh tokens (by family) and the access-token generation."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    api_keys: set[str] = field(default_factory=lambda: {DEFAULT_API_KEY})
    codes: dict[str, tuple[str, float]] = field(default_factory=dict)
    refresh: dict[str, RefreshEntry] = field(default_factory=dict)
    revoked_families: set[str] = field(default_factory=set)
    generation: int = 0
    storage_failures: int = 0


class RefreshReused(Exception):
    """A rotated-out refresh token came back: its whole family is revoked."""


class Care360Store:
    """One SQLite connection guarded by a lock, plus in-memory auth state."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.blobs = folder / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(folder / "care360.sqlite3", check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(_SCHEMA)
        self.auth = AuthState()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def reset(self) -> None:
        with self._lock:
            self._db.executescript("DELETE FROM files; DELETE FROM cases;")
            self._db.commit()
            shutil.rmtree(self.blobs, ignore_errors=True)
            self.blobs.mkdir(parents=True, exist_ok=True)
            self.auth = AuthState()

    # -- one-time codes -------------------------------------------------------------------------

    def issue_code(self, to: str) -> str:
        code = f"{secrets.randbelow(1_000_000):06d}"
        with self._lock:
            self.auth.codes[to] = (code, time.time() + OTP_TTL)
        return code

    def last_code(self, to: str) -> str | None:
        with self._lock:
            entry = self.auth.codes.get(to)
        return entry[0] if entry else None

    def take_code(self, to: str, code: str) -> bool:
        with self._lock:
            entry = self.auth.codes.get(to)
            if entry is None or entry[1] < time.time():
                return False
            if not hmac.compare_digest(entry[0], code):
                return False
            del self.auth.codes[to]
            return True

    # -- tokens ---------------------------------------------------------------------------------

    def issue_tokens(self, owner: str, family: str | None = None) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            payload = {"sub": owner, "iat": int(now), "exp": int(now) + ACCESS_TTL,
                       "gen": self.auth.generation, "jti": uuid.uuid4().hex}
            refresh = secrets.token_urlsafe(32)
            self.auth.refresh[refresh] = RefreshEntry(
                owner, family or uuid.uuid4().hex, now + REFRESH_TTL)
            secret = self.auth.secret
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64url(json.dumps(payload).encode())
        signature = _b64url(hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return {"accessToken": f"{header}.{body}.{signature}", "refreshToken": refresh,
                "expiresIn": ACCESS_TTL, "tokenType": "Bearer"}

    def owner_of_access(self, token: str) -> str | None:
        """The user of a valid, unexpired access token of the current generation."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        with self._lock:
            secret, generation = self.auth.secret, self.auth.generation
        expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64url(parts[2]), expected):
                return None
            payload = json.loads(_unb64url(parts[1]))
        except (ValueError, TypeError):
            return None
        if payload.get("gen") != generation or payload.get("exp", 0) <= time.time():
            return None
        owner = payload.get("sub")
        return owner if isinstance(owner, str) else None

    def rotate(self, refresh: str) -> dict[str, Any] | None:
        """New tokens for a live refresh token; None when unknown/expired/revoked.

        Raises RefreshReused (after revoking the family) for a token already rotated out.
        """
        with self._lock:
            entry = self.auth.refresh.get(refresh)
            if entry is None or entry.family in self.auth.revoked_families:
                return None
            if entry.used:
                self.auth.revoked_families.add(entry.family)
                raise RefreshReused
            if entry.expires < time.time():
                return None
            entry.used = True
            return self.issue_tokens(entry.owner, entry.family)

    def expire_access(self) -> None:
        """Every access token issued so far stops working (as if 15 minutes had passed)."""
        with self._lock:
            self.auth.generation += 1

    # -- cases and files ------------------------------------------------------------------------

    def add_case(self, owner: str, case_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO cases VALUES (?, ?)", (owner, case_id.lower()))
            self._db.commit()

    def owns_case(self, owner: str, case_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM cases WHERE owner = ? AND case_id = ?",
                                   (owner, case_id.lower())).fetchone()
        return row is not None

    def fail_storage(self, n: int) -> None:
        with self._lock:
            self.auth.storage_failures = n

    def blob_path(self, file_id: str) -> Path:
        return self.blobs / file_id

    def add_file(
        self, owner: str, case_id: str | None, name: str, mime: str, temp: Path, sha256: str,
    ) -> dict[str, Any] | None:
        """Insert the row, then "write the bucket" (rename the temp file). When a storage
        failure is switched on, the row is soft-deleted again and None is returned."""
        file_id = str(uuid.uuid4())
        size = temp.stat().st_size
        with self._lock:
            self._db.execute(
                "INSERT INTO files (id, owner, case_id, file_name, mime_type, size, sha256, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (file_id, owner, case_id, name, mime, size, sha256, _now_iso()),
            )
            self._db.commit()
            failing = self.auth.storage_failures > 0
            if failing:
                self.auth.storage_failures -= 1
                self._db.execute("UPDATE files SET deleted = 1 WHERE id = ?", (file_id,))
                self._db.commit()
        if failing:
            temp.unlink(missing_ok=True)
            return None
        temp.replace(self.blob_path(file_id))
        return self.file(file_id)

    def file(self, file_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()
        return dict(row) if row else None

    def files(
        self, owner: str | None, case_id: str | None = None, *, include_general: bool = False,
        include_deleted: bool = False,
    ) -> list[dict[str, Any]]:
        """Newest first."""
        sql = "SELECT * FROM files WHERE 1 = 1"
        args: list[Any] = []
        if owner is not None:
            sql += " AND owner = ?"
            args.append(owner)
        if case_id is not None:
            sql += " AND case_id = ?"
            args.append(case_id.lower())
        if not include_general:
            sql += " AND case_id IS NOT NULL"
        if not include_deleted:
            sql += " AND deleted = 0"
        sql += " ORDER BY seq DESC"
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, args).fetchall()]
