"""`ReferenceServer`: drive the reference server's `/__admin/` API from tests and benchmarks.

The server normally runs as a separate process (`start_process`): a benchmark pushes 1 GiB
through it, and the client under test must not share the server's GIL or event loop.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
BANNER = "Reference server listening on "


class ReferenceServerError(RuntimeError):
    """The reference server could not be started or refused an admin call."""


class ReferenceServer:
    """Handle on one running reference server; `url` is its base URL (no trailing slash)."""

    def __init__(self, url: str, process: subprocess.Popen[bytes] | None = None,
                 data_dir: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self.process = process
        self.data_dir = data_dir
        self._http = httpx.Client(base_url=self.url + "/__admin", timeout=60.0)

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def start_process(
        cls, data_dir: Path | str, port: int = 0, host: str = "127.0.0.1", timeout: float = 30.0
    ) -> ReferenceServer:
        """Launch `python -m tests.server` as a subprocess and wait until it answers."""
        folder = Path(data_dir).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        stdout_path = folder / "server.stdout"
        stderr_path = folder / "server.stderr"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        with open(stdout_path, "wb") as out, open(stderr_path, "ab") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.server", "--host", host, "--port", str(port),
                 "--data", str(folder)],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        url: str | None = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ReferenceServerError(
                    f"reference server exited with {process.returncode}; see {stderr_path}"
                )
            first_line = stdout_path.read_text(encoding="utf-8").partition("\n")
            if first_line[1] and first_line[0].startswith(BANNER):
                url = first_line[0][len(BANNER):].strip()
                break
            time.sleep(0.05)
        if url is None:
            process.kill()
            raise ReferenceServerError(f"reference server did not start; see {stderr_path}")
        server = cls(url, process=process, data_dir=folder)
        while time.monotonic() < deadline:
            try:
                server._http.get("/health", timeout=2.0).raise_for_status()
                return server
            except httpx.HTTPError:
                time.sleep(0.05)
        server.stop()
        raise ReferenceServerError(f"reference server at {url} did not answer; see {stderr_path}")

    def is_alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def stop(self) -> None:
        """Stop the subprocess (if this handle started one) and close the admin client."""
        self._http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> ReferenceServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise ReferenceServerError(
                f"admin {method} {path} -> {response.status_code}: {response.text}"
            )
        return response.json()

    # -- global switches ----------------------------------------------------------------------

    def reset(self) -> None:
        """Wipe all cases, files, faults, quirks and the request log; restore default users."""
        self._call("POST", "/reset")
        self.clear_hostile()

    def add_user(self, token: str, user_id: str) -> None:
        self._call("POST", "/users", json={"token": token, "user_id": user_id})

    def set_quirks(
        self,
        field_names: str | None = None,
        numeric_id: bool | None = None,
        int_ids: bool | None = None,
        empty_ignored: bool | None = None,
    ) -> dict[str, Any]:
        """`field_names` is "documented" or "deployed"; None leaves a switch as it is."""
        body = {"field_names": field_names, "numeric_id": numeric_id, "int_ids": int_ids,
                "empty_ignored": empty_ignored}
        result: dict[str, Any] = self._call("PUT", "/quirks", json=body)
        return result

    def _fault(self, **fields: Any) -> int:
        result: dict[str, Any] = self._call("POST", "/faults", json=fields)
        return int(result["id"])

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        retry_after: int | str | None = None,
        after_work: bool = False,
        path: str | None = None,
        method: str | None = None,
    ) -> int:
        """Answer `status` to the next `n` matching requests; `after_work` does the work first."""
        return self._fault(
            kind="status", n=n, status=status, after_work=after_work, path=path, method=method,
            retry_after=None if retry_after is None else str(retry_after),
        )

    def delay(
        self,
        seconds: float,
        path: str | None = None,
        n: int | None = None,
        method: str | None = None,
        after_work: bool = False,
    ) -> int:
        """Sleep before answering; `n=None` means every matching request until reset."""
        return self._fault(
            kind="delay", n=n, seconds=seconds, path=path, method=method, after_work=after_work
        )

    def drop_after_body(
        self, n: int = 1, path: str | None = None, method: str | None = None
    ) -> int:
        """Read the request, do the work, then close the socket without any response."""
        return self._fault(kind="drop", n=n, path=path, method=method)

    def truncate_next(self, n: int = 1, path: str | None = None, method: str | None = None) -> int:
        """Do the work and answer its real status, but with only half of the body."""
        return self._fault(kind="truncate", n=n, path=path, method=method)

    def unauthorized_next(
        self, n: int = 1, path: str | None = None, method: str | None = None
    ) -> int:
        """Answer 401 (before any work) to the next `n` matching requests."""
        return self._fault(kind="unauthorized", n=n, path=path, method=method)

    def hostile(self, mode: str, path: str | None = None, n: int | None = None,
                size: int = 1 << 20, seconds: float = 1.0, record: str | None = None,
                text: str | None = None) -> None:
        """Answer matching requests as an attacker would (tests/server/hostile.py)."""
        self._call("POST", "/hostile", json={"mode": mode, "path": path, "n": n, "size": size,
                                             "seconds": seconds, "record": record,
                                             "text": text})

    def clear_hostile(self) -> None:
        self._call("DELETE", "/hostile")

    def hold(self, path: str | None = None, method: str | None = None, n: int = 1) -> int:
        """Keep the next `n` matching requests waiting, before any work, until `release`:
        a network that delivers them late, exactly when a test says."""
        return self._fault(kind="hold", n=n, path=path, method=method)

    def wait_held(self, rule_id: int, timeout: float = 30.0) -> None:
        """Return once a request is being kept by the hold `rule_id`."""
        deadline = time.monotonic() + timeout
        while self._call("GET", f"/faults/{rule_id}/held")["held"] == 0:
            if time.monotonic() > deadline:
                raise ReferenceServerError(f"no request reached hold {rule_id}")
            time.sleep(0.01)

    def release(self, rule_id: int) -> None:
        self._call("POST", f"/faults/{rule_id}/release")

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def requests(self) -> list[dict[str, Any]]:
        """Client requests so far (admin calls excluded): method, path, query, status, fault."""
        result: list[dict[str, Any]] = self._call("GET", "/requests")["requests"]
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    # -- direct state access ------------------------------------------------------------------

    def cases(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Server-side records, newest first, always with `id` and `user_id`."""
        params = {} if user_id is None else {"user_id": user_id}
        result: list[dict[str, Any]] = self._call("GET", "/cases", params=params)["cases"]
        return result

    def case(self, case_id: str) -> dict[str, Any]:
        """`{"case", "files", "ai_insights"}` for any user's case."""
        result: dict[str, Any] = self._call("GET", f"/cases/{case_id}")
        return result

    def files(self, case_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/cases/{case_id}/files")["files"]
        return result

    def create_case(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Seed one case as if another client created it (patient_name, patient_age, ...)."""
        result: dict[str, Any] = self._call("POST", "/cases", json={"user_id": user_id, **fields})
        return dict(result["case"])

    def seed_cases(self, user_id: str, count: int) -> list[str]:
        """Insert `count` cases in one transaction; returns their case ids."""
        result: list[str] = self._call(
            "POST", "/cases/seed", json={"user_id": user_id, "count": count}
        )["case_ids"]
        return result

    def edit_case(self, case_id: str, **fields: Any) -> dict[str, Any]:
        """Change fields (gender and status too) as another client would; bumps updated_at."""
        result: dict[str, Any] = self._call("PATCH", f"/cases/{case_id}", json=fields)
        return dict(result["case"])

    def delete_case(self, case_id: str) -> None:
        self._call("DELETE", f"/cases/{case_id}")

    def set_analysis(self, outcome: str = "completed", step_seconds: float | None = 0.5) -> None:
        """How analyses go: "completed" (with insights) or "failed", a step every
        `step_seconds` (None: only when `advance_analysis` is called)."""
        self._call("PUT", "/analysis", json={"outcome": outcome, "step_seconds": step_seconds})

    def advance_analysis(self, case_id: str) -> dict[str, Any]:
        """The next step of a case's running analysis (processing → analyzing → the end)."""
        result: dict[str, Any] = self._call("POST", f"/cases/{case_id}/analysis/advance")
        return dict(result["case"])

    def set_insights(self, case_id: str, insights: dict[str, Any] | None) -> None:
        """Attach (or with None, remove) ai_insights; does not bump updated_at."""
        self._call("PUT", f"/cases/{case_id}/insights", json=insights)

    def add_file(
        self,
        case_id: str,
        file_name: str,
        data: bytes,
        file_type: str = "application/octet-stream",
        file_category: str = "lab",
    ) -> dict[str, Any]:
        """Attach a file server-side, as if another client had uploaded it."""
        body = {
            "file_name": file_name,
            "data_base64": base64.b64encode(data).decode("ascii"),
            "file_type": file_type,
            "file_category": file_category,
        }
        result: dict[str, Any] = self._call("POST", f"/cases/{case_id}/files", json=body)
        return dict(result["file"])

    def delete_file(self, file_id: str) -> None:
        self._call("DELETE", f"/files/{file_id}")

    # -- Care360 (dialect 2) ------------------------------------------------------------------

    def care360_otp(self, to: str) -> str:
        """The last one-time code sent to an email address or phone number."""
        return str(self._call("GET", "/care360/otp", params={"to": to})["code"])

    def care360_expire_access(self) -> None:
        """Every Care360 access token issued so far stops working (as after 15 minutes)."""
        self._call("POST", "/care360/expire-access")

    def care360_add_case(self, owner: str, case_id: str) -> None:
        """Register a case (UUID) as owned by `owner` (the email/phone used to sign in)."""
        self._call("POST", "/care360/cases", json={"owner": owner, "case_id": case_id})

    def care360_fail_storage(self, n: int = 1) -> None:
        """The next `n` uploads fail at the bucket write: row rolled back, 500 INTERNAL_ERROR."""
        self._call("POST", "/care360/storage-failures", json={"n": n})

    def care360_add_api_key(self, key: str) -> None:
        self._call("POST", "/care360/api-keys", json={"key": key})

    def care360_files(
        self, owner: str | None = None, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """The server's view of every file (general documents included), newest first."""
        params: dict[str, Any] = {"include_deleted": include_deleted}
        if owner is not None:
            params["owner"] = owner
        result: list[dict[str, Any]] = self._call("GET", "/care360/files", params=params)["files"]
        return result

    def care360_file_bytes(self, file_id: str) -> bytes:
        response = self._http.get(f"/care360/files/{file_id}/bytes")
        if response.is_error:
            raise ReferenceServerError(f"admin GET file bytes -> {response.status_code}")
        return response.content
