"""SQLite state of the MedMitra (dialect 1) reference server: users, cases, files, insights.

Kept apart from the HTTP layer so the admin API and a later second dialect can share the
folder layout without sharing routes. One connection guarded by a lock: the server is a test
double, so simplicity beats throughput, yet seeding 10,000 cases must stay fast.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

DEFAULT_USERS: dict[str, str] = {
    "token-doctor-1": "doctor-1",
    "token-doctor-2": "doctor-2",
}

CASE_COLUMNS = (
    "id",
    "case_id",
    "user_id",
    "patient_name",
    "patient_age",
    "patient_gender",
    "case_summary",
    "status",
    "created_at",
    "updated_at",
)
EDITABLE_CASE_FIELDS = frozenset(
    {"patient_name", "patient_age", "patient_gender", "case_summary", "status", "user_id",
     "created_at"}
)
FILE_COLUMNS = (
    "file_id",
    "case_id",
    "file_name",
    "file_type",
    "file_size",
    "file_url",
    "file_category",
    "uploaded_at",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    patient_age INTEGER NOT NULL,
    patient_gender TEXT NOT NULL,
    case_summary TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    ai_insights TEXT
);
CREATE INDEX IF NOT EXISTS cases_by_user ON cases (user_id, id);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id TEXT NOT NULL UNIQUE,
    case_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_type TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    file_url TEXT NOT NULL,
    file_category TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_case ON files (case_id, seq);
"""


@dataclass(frozen=True)
class StoredFile:
    """Where an upload's bytes already sit on disk, before its row exists."""

    file_id: str
    file_name: str
    file_type: str
    file_size: int
    file_category: str


class MedMitraStore:
    """Cases, files and tokens of dialect 1, persisted under one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.files_dir = self.data_dir / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        self._db = sqlite3.connect(
            self.data_dir / "medmitra.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        with self._lock:
            if self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0:
                self._insert_default_users()

    # -- housekeeping -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def reset(self) -> None:
        """Wipe every row and every stored byte; restore the default users."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM cases")
            self._db.execute("DELETE FROM users")
            self._db.execute("DELETE FROM sqlite_sequence")
            self._insert_default_users()
            self._db.execute("COMMIT")
            shutil.rmtree(self.files_dir, ignore_errors=True)
            self.files_dir.mkdir(parents=True, exist_ok=True)

    def _insert_default_users(self) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO users (token, user_id) VALUES (?, ?)", DEFAULT_USERS.items()
        )

    def now(self) -> str:
        """A strictly increasing UTC timestamp with microseconds: `updated_at` must move."""
        with self._lock:
            stamp = datetime.now(UTC)
            if stamp <= self._last_stamp:
                stamp = self._last_stamp + timedelta(microseconds=1)
            self._last_stamp = stamp
            return stamp.isoformat(timespec="microseconds")

    # -- users --------------------------------------------------------------------------------

    def add_user(self, token: str, user_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO users (token, user_id) VALUES (?, ?)", (token, user_id)
            )

    def user_for_token(self, token: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT user_id FROM users WHERE token = ?", (token,)).fetchone()
        return None if row is None else str(row[0])

    def users(self) -> list[dict[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT token, user_id FROM users ORDER BY token").fetchall()
        return [dict(row) for row in rows]

    # -- cases --------------------------------------------------------------------------------

    def create_case(
        self,
        user_id: str,
        patient_name: str,
        patient_age: int,
        patient_gender: str,
        case_summary: str | None = None,
        status: str = "pending",
    ) -> dict[str, Any]:
        stamp = self.now()
        case_id = str(uuid.uuid4())
        with self._lock:
            self._db.execute(
                "INSERT INTO cases (case_id, user_id, patient_name, patient_age, patient_gender,"
                " case_summary, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (case_id, user_id, patient_name, patient_age, patient_gender, case_summary,
                 status, stamp, stamp),
            )
        case = self.case(case_id)
        assert case is not None
        return case

    def seed_cases(self, user_id: str, count: int) -> list[str]:
        """Insert `count` synthetic cases in one transaction (benchmarks need 10,000)."""
        rows: list[tuple[Any, ...]] = []
        for index in range(count):
            stamp = self.now()
            rows.append(
                (str(uuid.uuid4()), user_id, f"Seed Patient {index + 1}", 20 + index % 70,
                 "female" if index % 2 else "male", f"Seeded case {index + 1}", "pending",
                 stamp, stamp)
            )
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO cases (case_id, user_id, patient_name, patient_age, patient_gender,"
                " case_summary, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                rows,
            )
            self._db.execute("COMMIT")
        return [row[0] for row in rows]

    def case(self, case_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE case_id = ?", (case_id,)
            ).fetchone()
        return None if row is None else dict(row)

    def case_by_row_id(self, row_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE id = ?", (row_id,)
            ).fetchone()
        return None if row is None else dict(row)

    def cases(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Newest first, as API.md documents for `all_cases`."""
        query = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases"
        params: tuple[Any, ...] = ()
        if user_id is not None:
            query += " WHERE user_id = ?"
            params = (user_id,)
        query += " ORDER BY id DESC"
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [dict(row) for row in rows]

    def update_case(self, case_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Apply `fields` and bump `updated_at`; None when the case does not exist."""
        unknown = set(fields) - EDITABLE_CASE_FIELDS
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        assignments = dict(fields)
        assignments["updated_at"] = self.now()
        sql = ", ".join(f"{name} = ?" for name in assignments)
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE cases SET {sql} WHERE case_id = ?", (*assignments.values(), case_id)
            )
            if cursor.rowcount == 0:
                return None
        return self.case(case_id)

    def delete_case(self, case_id: str) -> bool:
        with self._lock:
            file_ids = [
                row[0]
                for row in self._db.execute(
                    "SELECT file_id FROM files WHERE case_id = ?", (case_id,)
                ).fetchall()
            ]
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM files WHERE case_id = ?", (case_id,))
            cursor = self._db.execute("DELETE FROM cases WHERE case_id = ?", (case_id,))
            self._db.execute("COMMIT")
        for file_id in file_ids:
            self.blob_path(file_id).unlink(missing_ok=True)
        return cursor.rowcount > 0

    def insights(self, case_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT ai_insights FROM cases WHERE case_id = ?", (case_id,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        value: dict[str, Any] = json.loads(row[0])
        return value

    def set_insights(self, case_id: str, insights: dict[str, Any] | None) -> bool:
        """Insights are produced server-side, so setting them does not bump `updated_at`."""
        encoded = None if insights is None else json.dumps(insights)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE cases SET ai_insights = ? WHERE case_id = ?", (encoded, case_id)
            )
        return cursor.rowcount > 0

    # -- files --------------------------------------------------------------------------------

    def new_file_id(self) -> str:
        return str(uuid.uuid4())

    def blob_path(self, file_id: str) -> Path:
        """Bytes live under the server-made id, never under the client's (untrusted) name."""
        return self.files_dir / file_id

    def add_files(self, case_id: str, stored: Iterable[StoredFile]) -> list[dict[str, Any]]:
        rows = []
        for item in stored:
            url = f"/files/{item.file_id}/{quote(item.file_name, safe='')}"
            rows.append(
                (item.file_id, case_id, item.file_name, item.file_type, item.file_size, url,
                 item.file_category, self.now())
            )
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT INTO files ({', '.join(FILE_COLUMNS)}) VALUES (?,?,?,?,?,?,?,?)", rows
            )
            self._db.execute("COMMIT")
        return [self.file(row[0]) or {} for row in rows]

    def file(self, file_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE file_id = ?", (file_id,)
            ).fetchone()
        return None if row is None else dict(row)

    def files(self, case_id: str) -> list[dict[str, Any]]:
        """In upload order, as the seed documents promise."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE case_id = ? ORDER BY seq",
                (case_id,),
            ).fetchall()
        return [dict(row) for row in rows]

    def delete_file(self, file_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM files WHERE file_id = ?", (file_id,))
        self.blob_path(file_id).unlink(missing_ok=True)
        return cursor.rowcount > 0
