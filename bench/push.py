"""Pushing queued work: `casedesk sync` against a bare httpx loop of the same requests.

Two figures, each beside a same-run floor and taken in pairs (floor, then client) so a busy
shared machine hits both alike:

- **200 queued creates** through ``casedesk sync`` as a fresh process (start-up, opening the
  cache, the push, the pull and the file check that follow), against a fresh process that
  imports httpx and sends the same 200 multipart creates one at a time. Target <= 2x.
- **1,000 queued changes** (creates, edits of cases already on the server, small uploads)
  through ``casedesk sync``: changes per second, beside the bare loop sending the same
  requests (an edit is a read and a write, as the engine's is). The issue's target is >= 5x
  the rate before its work (measured with this bench on the base commit, same sitting).

Both talk real HTTP to the reference server in its own process, each on an account of its
own, fresh for each pair: a sync then pulls only what it pushed itself, as the sync of one
workstation's queued work does, not the other contender's (or an earlier pair's) hundreds of
new cases, which it would have to take in and look at the files of.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from desktop.workspace import Workspace
from tests.server.control import REPO_ROOT, ReferenceServer


@dataclass(frozen=True)
class Account:
    token: str
    user: str


def _account(server: ReferenceServer, name: str) -> Account:
    account = Account(f"token-{name}", name)
    server.add_user(account.token, account.user)
    return account



def _pdf(path: Path, title: str) -> Path:
    """A small, well-formed PDF (one blank page), unique by its title: intake refuses a PDF
    whose structure cannot be read, and a refused file is never queued for upload."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title})
    with path.open("wb") as f:
        writer.write(f)
    return path

# The bare loop: one process, httpx imported, the same requests one at a time. Its requests
# are described on standard input, one a line: "create", "edit <id>", "upload <id> <path>".
BARE = textwrap.dedent("""
    import sys, httpx
    url, token, user = sys.argv[1:4]
    jobs = sys.stdin.read().split("\\n")
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer " + token}) as c:
        for n, job in enumerate(j for j in jobs if j):
            kind, *rest = job.split(" ")
            if kind == "create":
                form = {"user_id": user, "patient_name": f"Bare {n}", "patient_age": "40",
                        "patient_gender": "female", "case_summary": "queued offline"}
                r = c.post("/cases/create_case",
                           files=[(k, (None, v.encode(), None)) for k, v in form.items()])
            elif kind == "edit":
                c.get(f"/cases/cases/{rest[0]}").raise_for_status()
                r = c.put(f"/cases/cases/{rest[0]}", json={"case_summary": f"edit {n}"})
            else:
                with open(rest[1], "rb") as f:
                    r = c.post("/cases/upload", data={"case_id": rest[0], "user_id": user},
                               files=[("file", ("note.pdf", f, "application/pdf"))])
            r.raise_for_status()
""")


PYCACHE = Path(tempfile.gettempdir()) / "casedesk-bench-pycache"


def _env(data: Path) -> dict[str, str]:
    # Bytecode cached (in a private folder), as in any installed app, for both contenders:
    # without it every start compiles SQLAlchemy from source (this sandbox sets
    # PYTHONDONTWRITEBYTECODE), which costs a second and measures nothing of ours.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=str(PYCACHE), CASEDESK_DATA_DIR=str(data))
    env.update(_KEYCHAIN_ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


_KEYCHAIN_ENV: dict[str, str] = {}


def _file_keychain(folder: Path) -> None:
    """A keychain in a file for this run (the tests' own backend), shared with the child
    processes, as a workstation's keychain holds the folder key and the sign-in: the real
    keychain is never touched, and a build machine may have none."""
    import keyring

    from tests.keychain import BACKEND, ENV, SharedKeyring

    _KEYCHAIN_ENV.update({ENV: str(folder / "keychain.json"), "PYTHON_KEYRING_BACKEND": BACKEND})
    keyring.set_keyring(SharedKeyring(folder / "keychain.json"))


def _run(argv: list[str], data: Path, stdin: str = "") -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, input=stdin.encode(), capture_output=True, env=_env(data),
                          cwd=REPO_ROOT, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[2:4]} failed ({done.returncode}): "
                           f"{done.stdout.decode()[-400:]} {done.stderr.decode()[-800:]}")
    return seconds


def _casedesk(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "desktop", "--data-dir", str(data), *args]


def _sign_in(data: Path, url: str, account: Account) -> None:
    subprocess.run(_casedesk(data, "login", "--server", url, "--user-id", account.user,
                             "--no-verify"),
                   input=(account.token + "\n").encode(), capture_output=True, env=_env(data),
                   cwd=REPO_ROOT, check=True)  # the token goes to the (file) keychain


def _bare(url: str, data: Path, jobs: list[str], account: Account) -> float:
    return _run([sys.executable, "-c", BARE, url, account.token, account.user], data,
                "\n".join(jobs) + "\n")


def _queue(data: Path, creates: int, edits: list[str], uploads: list[tuple[str, Path]]) -> None:
    """Queue work as a person offline would: new cases, edits, files attached."""
    with Workspace.open(data) as ws:
        for i in range(creates):
            ws.create_case(f"Patient {i}", 30 + i % 50, "female", "queued offline")
        for n, case_id in enumerate(edits):
            ws.edit_case(case_id, case_summary=f"edited offline {n}")
        for case_id, path in uploads:
            results = ws.attach(case_id, [path], category="lab")
            refused = [r.reason for r in results if r.document is None]
            if refused:  # the figure would count uploads that never happen
                raise RuntimeError(f"{path.name} was not taken in: {refused}")


@dataclass
class PushFigures:
    creates: list[tuple[float, float]] = field(default_factory=list)  # (bare, casedesk)
    mix: list[tuple[float, float]] = field(default_factory=list)
    # The floor under any `casedesk sync`: the same sync again with nothing queued (start-up,
    # opening the cache, the pull, the file check), and the bare loop's start-up alone.
    idle_sync: list[float] = field(default_factory=list)
    bare_start: list[float] = field(default_factory=list)


def measure(root: Path, creates: int, mix: int, pairs: int) -> PushFigures:
    figures = PushFigures()
    with ReferenceServer.start_process(root / "server") as server:
        for p in range(pairs):
            data = root / f"creates-{p}"
            mine, theirs = _account(server, f"creates-{p}"), _account(server, f"bare-{p}")
            _sign_in(data, server.url, mine)
            _queue(data, creates, [], [])
            bare = _bare(server.url, root, ["create"] * creates, theirs)
            figures.creates.append((bare, _run(_casedesk(data, "sync"), data)))
            figures.idle_sync.append(_run(_casedesk(data, "sync"), data))
            figures.bare_start.append(_bare(server.url, root, [], theirs))
            shutil.rmtree(data)

        # The mix: 40% creates, 40% edits of cases on the server, 20% small uploads to them.
        n_create, n_edit = mix * 2 // 5, mix * 2 // 5
        n_upload = mix - n_create - n_edit
        for p in range(pairs):
            data = root / f"mix-{p}"
            mine, theirs = _account(server, f"mix-{p}"), _account(server, f"mix-bare-{p}")
            _sign_in(data, server.url, mine)
            server.seed_cases(mine.user, n_edit + n_upload)
            theirs_seeded = server.seed_cases(theirs.user, n_edit + n_upload)
            _run(_casedesk(data, "sync"), data)  # the seeded cases arrive, not timed
            with Workspace.open(data) as ws:
                records = ws.cases_by_id(ws.case_ids()).values()
                on_server = [(c.id, c.server_id) for c in records
                             if c.server_id][: n_edit + n_upload]
            note = _pdf(root / "note.pdf", "bare note")
            files = []
            for n, (case_id, _) in enumerate(on_server[n_edit:]):
                folder = root / f"mix-{p}-files"
                folder.mkdir(exist_ok=True)
                files.append((case_id, _pdf(folder / f"note-{n}.pdf", f"note {p} {n}")))
            _queue(data, n_create, [c for c, _ in on_server[:n_edit]], files)
            jobs = (["create"] * n_create + [f"edit {sid}" for sid in theirs_seeded[:n_edit]]
                    + [f"upload {sid} {note}" for sid in theirs_seeded[n_edit:]])
            bare = _bare(server.url, root, jobs, theirs)
            figures.mix.append((bare, _run(_casedesk(data, "sync"), data)))
            shutil.rmtree(data)
            shutil.rmtree(root / f"mix-{p}-files")
    return figures


def report(figures: PushFigures, creates: int, mix: int) -> None:
    def line(pairs: list[tuple[float, float]], count: int, what: str, target: str) -> None:
        bare = statistics.median(b for b, _ in pairs)
        ours = statistics.median(c for _, c in pairs)
        ratios = sorted(c / b for b, c in pairs)
        print(f"  {what}: casedesk sync {ours:.2f} s ({count / ours:.0f}/s), bare httpx loop "
              f"{bare:.2f} s ({count / bare:.0f}/s), start-up included")
        print(f"    ratio casedesk/bare = {statistics.median(ratios):.2f}   ({target}; "
              f"{len(ratios)} pairs {ratios[0]:.2f}-{ratios[-1]:.2f})")

    print("push of queued work through casedesk sync (fresh process each), reference server")
    line(figures.creates, creates, f"{creates} queued creates", "target <= 2.0")
    idle, bare_start = statistics.median(figures.idle_sync), statistics.median(figures.bare_start)
    requests = statistics.median(b for b, _ in figures.creates) - bare_start
    floor = idle + requests
    ours = statistics.median(c for _, c in figures.creates)
    print(f"    info: floor = casedesk sync with nothing queued {idle:.2f} s + the bare loop's "
          f"requests {requests:.2f} s (its start-up {bare_start:.2f} s taken off) = {floor:.2f} s;"
          f" casedesk/floor = {ours / floor:.2f}; the client's own cost per create "
          f"{(ours - floor) / creates * 1000:.1f} ms")
    line(figures.mix, mix, f"{mix} queued changes (40% creates, 40% edits, 20% uploads)",
         "info; the issue's target is >= 5x the base commit's changes/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.push")
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--mix", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        _file_keychain(Path(tmp))
        figures = measure(Path(tmp), args.creates, args.mix, args.pairs)
    report(figures, args.creates, args.mix)


if __name__ == "__main__":
    main()
