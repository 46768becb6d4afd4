"""The command line: the same Workspace and sync services the window uses, for scripts and
support. Output for people on stdout; one clear line on stderr for errors (exit 1; 2 = usage)."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from desktop import __version__, datafolder
from desktop import logs as applogs
from desktop.errors import CacheProblem, CaseDeskError
from desktop.workspace import (
    DELETION,
    KNOWN_GENDERS,
    KNOWN_STATUSES,
    SORT_KEYS,
    AttachResult,
    CaseQuery,
    CaseRecord,
    Workspace,
)

if TYPE_CHECKING:
    from desktop.sync.report import SyncReport

log = logging.getLogger(__name__)
ENV_TOKEN = "CASEDESK_TOKEN"


class UsageError(Exception):
    """A malformed command line; exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False, sort_keys=True)
    out.write("\n")


def _when(record: CaseRecord) -> str:
    return record.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")


def _print_case_table(cases: Sequence[CaseRecord], total: int, out: TextIO) -> None:
    if not cases:
        out.write("No cases match.\n")
        return
    out.write(f"{'ID':8}  {'PATIENT':28} {'AGE':>3}  {'GENDER':8} {'STATUS':11} {'UPDATED':16}  SYNC\n")
    for c in cases:
        out.write(
            f"{c.id[:8]}  {c.patient_name[:28]:28} {c.patient_age:>3}  {c.patient_gender[:8]:8} "
            f"{c.status[:11]:11} {_when(c):16}  {c.sync_state}\n"
        )
    shown = len(cases)
    out.write(f"{shown} of {total} case(s)\n" if shown != total else f"{total} case(s)\n")


ANALYSIS_WORDS = {"requested": "requested, not sent yet", "processing": "processing",
                  "analyzing": "analyzing", "completed": "completed (see the AI insights)",
                  "failed": "failed"}


def _print_case(record: CaseRecord, docs: Sequence[Any], out: TextIO) -> None:
    out.write(f"Case      {record.id}\n")
    if record.removed_at is not None:
        out.write(f"Deleted   here; the server deletes it at the next sync (casedesk cases "
                  f"restore {record.id[:8]} undoes it until then)\n")
    if record.analysis is not None:
        out.write(f"Analysis  {ANALYSIS_WORDS.get(record.analysis, record.analysis)}\n")
    out.write(f"Server id {record.server_id or '(not yet on the server)'}\n")
    out.write(f"Patient   {record.patient_name}, {record.patient_age}, {record.patient_gender}\n")
    out.write(f"Status    {record.status}\n")
    out.write(f"Sync      {record.sync_state}" + (f": {record.sync_error}" if record.sync_error else "") + "\n")
    out.write(f"Updated   {_when(record)}\n")
    if record.server_id is not None:
        checked = record.files_checked_at
        out.write("Files     " + (f"list checked with the server "
                                  f"{checked.astimezone().strftime('%Y-%m-%d %H:%M')}\n"
                                  if checked else "list not checked with the server yet\n"))
    out.write("Notes\n")
    for line in (record.case_summary or "(none)").splitlines() or [""]:
        out.write(f"  {line}\n")
    out.write(f"Documents ({len(docs)})\n")
    for d in docs:
        out.write(f"  {d.id[:8]}  {d.name}  {d.category}  {_size(d.size)}  {d.state}"
                  + (f": {d.error}" if d.error else "") + "\n")
        if d.patient_mismatch:
            out.write(f"            warning: {patient_warning(d, record.patient_name)}\n")


def patient_warning(doc: Any, case_name: str) -> str:
    """A DICOM header naming another patient, in words (the window words it the same way)."""
    said = []
    if "name" in doc.patient_mismatch:
        said.append(f"the patient {doc.dicom_patient_name!r}, not {case_name!r}")
    if "id" in doc.patient_mismatch:
        said.append(f"the patient id {doc.dicom_patient_id!r}, unlike this case's other "
                    "DICOM files")
    return "its DICOM header names " + " and ".join(said) + "; check it is this patient's"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


# ------------------------------------------------------------------ commands


def cmd_new(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    matches = ws.similar_patients(a.name, a.age, a.gender)
    if matches and not a.anyway:
        if not a.json:
            out.write(f"{len(matches)} case(s) here may be this patient already:\n")
            _print_case_table(matches, len(matches), out)
        if a.json or not _ask("Create a new case anyway? [y/N] "):
            if a.json:
                _json({"case": None, "matches": [m.to_json() for m in matches]}, out)
            raise CaseDeskError(
                "Not created: a case of this patient may exist already (same name, gender and "
                "an age within a year). Open it (`casedesk cases show ID`), or create a new "
                "one anyway with --anyway.")
    record = ws.create_case(a.name, a.age, a.gender, a.summary, a.status or "pending")
    if a.json:
        _json({"case": record.to_json(), "matches": [m.to_json() for m in matches]}, out)
    else:
        out.write(f"Created case {record.id} ({record.patient_name}); it will sync when online.\n")
    return 0


def _ask(question: str) -> bool:
    """A yes from a person at a terminal; never a yes from a script's standard input."""
    if sys.stdin is None or not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")


def _confirmed(a: argparse.Namespace, question: str, refusal: str) -> None:
    """--yes, or a yes typed at a terminal; otherwise nothing is done (exit 1)."""
    if not a.yes and not _ask(question + " [y/N] "):
        raise CaseDeskError(refusal)


def cmd_delete(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    record = ws.get_case(a.id)
    count = len(ws.documents(record.id))
    _confirmed(a, f"Delete the case of {record.patient_name} with {count} document(s)?",
               "Nothing was deleted: confirm at a terminal, or add --yes.")
    deletion = ws.delete_case(record.id)
    if a.json:
        _json({"deletion": deletion.to_json()}, out)
    elif deletion.waits_for_server:
        out.write(f"Deleted the case of {record.patient_name} ({count} document(s)) here; the "
                  "server deletes it at the next sync. Until then: casedesk cases restore "
                  f"{record.id[:8]}\n")
    else:
        out.write(f"Deleted the case of {record.patient_name} ({count} document(s)); it was "
                  "never on the server.\n")
    return 0


def cmd_restore_case(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    record = ws.restore_case(a.id)
    if a.json:
        _json({"case": record.to_json()}, out)
    else:
        out.write(f"Restored the case of {record.patient_name}; it is back in the list.\n")
    return 0


def cmd_analyze(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    record = ws.request_analysis(a.id)
    if a.json:
        _json({"case": record.to_json()}, out)
    else:
        out.write(f"Analysis of {record.patient_name} requested; it is sent with the next sync "
                  f"(casedesk cases show {record.id[:8]} shows how it stands).\n")
    return 0


def cmd_remove_document(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    doc = ws.get_document(a.id)
    patient = ws.get_case(doc.case_id).patient_name
    _confirmed(a, f"Remove {doc.name} from the case of {patient}?",
               "Nothing was removed: confirm at a terminal, or add --yes.")
    removal = ws.remove_document(doc.id)
    if a.json:
        _json({"removal": removal.to_json()}, out)
    elif removal.waits_for_server:
        out.write(f"Removed {doc.name} from the case of {patient} here; the server removes it "
                  f"at the next sync. Until then: casedesk documents restore {doc.id[:8]}\n")
    else:
        out.write(f"Removed {doc.name} from the case of {patient}; it was never on the "
                  "server.\n")
    return 0


def cmd_restore_document(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    doc = ws.restore_document(a.id)
    if a.json:
        _json({"document": doc.to_json()}, out)
    else:
        out.write(f"Restored {doc.name}; it is back on its case.\n")
    return 0


def cmd_move_document(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    from desktop.workspace import ContentNotHereError

    try:
        move = ws.move_document(a.id, a.case)
    except ContentNotHereError as exc:
        from desktop.sync import runner

        runner.download(ws, exc.document_id)  # its bytes first, then the move
        move = ws.move_document(a.id, a.case)
    if a.json:
        _json({"move": move.to_json()}, out)
    else:
        then = (" The server gets it on the new case at the next sync, and only then loses "
                "it from the old one." if move.waits_for_server else "")
        out.write(f"Moved {move.document.name} from the case of {move.from_patient} to the "
                  f"case of {move.to_patient}.{then}\n")
    return 0


def cmd_list(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    query = CaseQuery(
        search=a.search, status=a.status, include_archived=a.all, sort=a.sort, descending=not a.asc
    )
    cases = ws.list_cases(query, offset=a.offset, limit=a.limit)
    total = ws.count_cases(query)
    note = search_note(query)
    if a.json:
        _json({"cases": [c.to_json() for c in cases], "total": total, "note": note}, out)
    else:
        _print_case_table(cases, total, out)
        if note:
            out.write(f"Note: {note}.\n")
    return 0


def search_note(query: CaseQuery) -> str | None:
    """What a person should know about a search too long to use whole."""
    from desktop.workspace import MAX_SEARCH_WORD, MAX_SEARCH_WORDS

    notes = []
    if query.words_left_out:
        notes.append(f"searched the first {MAX_SEARCH_WORDS} words; "
                     f"{query.words_left_out} more were left out")
    if query.words_shortened:
        notes.append(f"words longer than {MAX_SEARCH_WORD} letters were cut to that length")
    return "; ".join(notes) or None


def cmd_show(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    record = ws.get_case(a.id)
    docs = ws.documents(record.id)
    ws.record_view(record.id)
    if a.json:
        _json({"case": record.to_json(), "documents": [d.to_json() for d in docs]}, out)
    else:
        _print_case(record, docs, out)
    return 0


def cmd_edit(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    if a.gender is not None:
        raise CaseDeskError(
            "Gender cannot be changed after a case is created (the server refuses it)."
        )
    changes = {
        k: v
        for k, v in {
            "patient_name": a.name,
            "patient_age": a.age,
            "case_summary": a.summary,
            "status": a.status,
        }.items()
        if v is not None
    }
    if not changes:
        raise UsageError("nothing to change: give --name, --age, --summary or --status")
    record = ws.edit_case(a.id, **changes)
    if a.json:
        _json({"case": record.to_json()}, out)
    else:
        out.write(f"Saved case {record.id} ({record.sync_state}).\n")
    return 0


def cmd_archive(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    record = ws.archive_case(a.id)
    out.write(f"Archived case {record.id}.\n")
    return 0


def cmd_link(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    from desktop.sync import registry

    kind = registry.linking_kind(ws)
    kind.link_case(ws, a.id, a.server_case_id)
    out.write(f"Linked: this case's documents will be filed under that {kind.short_title} "
              "case.\n")
    return 0


def cmd_attach(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    results: list[AttachResult] = ws.attach(a.id, [Path(p) for p in a.paths], category=a.category)
    if a.json:
        _json({"results": [r.to_json() for r in results]}, out)
    else:
        for r in results:
            if r.outcome == "attached" and r.document:
                out.write(f"attached   {r.path}  ({r.document.mime_type}, {r.document.category})\n")
                if r.document.patient_mismatch:
                    name = ws.get_case(r.document.case_id).patient_name
                    out.write(f"  warning: {patient_warning(r.document, name)}\n")
            elif r.outcome == "duplicate":
                out.write(f"duplicate  {r.path}  ({r.reason})\n")
            else:
                out.write(f"refused    {r.path}  ({r.reason})\n")
        n = {k: sum(r.outcome == k for r in results) for k in ("attached", "duplicate", "refused")}
        out.write(f"{n['attached']} attached, {n['duplicate']} already attached, {n['refused']} refused\n")
    if not results:
        raise CaseDeskError("No files found in the given paths.")
    return 1 if any(r.outcome == "refused" for r in results) else 0


def cmd_pending(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    rows = ws.pending()
    if a.json:
        _json({"pending": [r.to_json() for r in rows]}, out)
        return 0
    if not rows:
        out.write("Nothing waits for the server.\n")
        return 0
    for r in rows:
        what = {
            "create_case": "create case",
            "update_case": "update " + ", ".join(r.fields),
            "upload_document": f"upload {r.document_name}",
            "remove_document": f"remove {r.document_name}",
            "delete_case": "delete case",
            "analyze_case": "request analysis",
        }.get(r.kind, r.kind)
        extra = f"  [{r.state}: {r.last_error}]" if r.last_error else ""
        out.write(f"{r.id:>5}  {r.case_id[:8]}  {r.patient_name[:24]:24}  {what}{extra}\n")
    out.write(f"{len(rows)} change(s) waiting\n")
    return 0


def _read_line(prompt: str, hidden: bool, missing: str) -> str:
    """One answer: prompted on a terminal (without echo if *hidden*), else a line of stdin
    (never a command-line flag, which other users can read)."""
    if sys.stdin is not None and sys.stdin.isatty():
        value = getpass.getpass(prompt) if hidden else input(prompt)
    else:
        value = sys.stdin.readline() if sys.stdin is not None else ""
    if not value.strip():
        raise CaseDeskError(missing)
    return value.strip()


SECRET_WORDS = {"token": "Token", "api_key": "API key"}


def _account_from_flags(kind: Any, a: argparse.Namespace) -> str:
    """The account flags a kind takes: --user-id (a case server) or --email/--phone (a code)."""
    from desktop.sync.kind import Account

    if kind.sign_in.account is Account.DOCTOR_ID:
        if a.email or a.phone:
            raise UsageError(f"--email/--phone are not for --kind {kind.name}: give --user-id")
        if not a.user_id:
            raise UsageError("the following arguments are required: --user-id")
        return str(a.user_id)
    if a.user_id or not (a.email or a.phone):
        raise UsageError(f"--kind {kind.name} signs in with --email or --phone (not --user-id)")
    return str(a.email or a.phone)


def cmd_login(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    from desktop.sync import registry
    from desktop.sync.credentials import NoKeychainError
    from desktop.sync.kind import CodeSent

    kind = registry.kind(a.kind)
    account = _account_from_flags(kind, a)
    if a.no_verify and kind.sign_in.one_time_code:
        raise UsageError(f"--no-verify is not for --kind {kind.name}: its sign-in needs a "
                         "one-time code from the server")
    word = SECRET_WORDS.get(kind.sign_in.secret, kind.sign_in.secret)
    secret = _read_line(f"{word} (input hidden): ", True,
                        f"No {word} given: type it at the prompt or pipe it on standard input.")
    step = kind.begin_sign_in(ws, a.server, account, secret, verify=not a.no_verify,
                              allow_plain_http=a.allow_plain_http)
    if isinstance(step, CodeSent):
        where = "the email address" if step.channel == "email" else "the phone"
        out.write(f"A 6-digit code was sent to {where} {step.address}.\n")
        out.flush()
        code = _read_line("Code: ", False,
                          "No code given: type it at the prompt or pipe it after the key.")
        result = kind.finish_sign_in(ws, step, code)
    else:
        result = step
    if result.profile.plain_http_allowed:
        out.write(PLAIN_HTTP_WARNING.format(url=result.profile.url) + "\n")
    if not result.stored_in_keychain:
        out.write(f"{NoKeychainError()} {_no_keychain_hint(True)}\n")
        out.write(f"The server address was saved; the {word.lower()} was not stored anywhere. "
                  f"To sync, give it to each command in the environment: export "
                  f"{ENV_TOKEN} in this shell, then run casedesk sync.\n")
        return 1
    profile = result.profile
    if kind.sign_in.one_time_code:
        out.write(f"Signed in to {kind.short_title} at {profile.url} as {profile.user_id} "
                  f"({word} and sign-in stored in the system keychain).\n")
        return 0
    if a.no_verify:
        note = "not checked (--no-verify)"
    elif result.verified:
        note = "checked with the server"
    else:
        note = "not checked: the server is unreachable right now"
    out.write(f"Signed in to {profile.url} as {profile.user_id} ({word.lower()} {note}; "
              "stored in the system keychain).\n")
    return 0


PLAIN_HTTP_WARNING = (
    "Warning: {url} is not encrypted (http://). Your sign-in token and every patient's "
    "names, ages, notes and documents cross the network in clear, readable and changeable by "
    "anyone on the way. Use https:// as soon as the server offers it."
)


def cmd_logout(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    from desktop.sync import registry

    unsent = ws.unsent_work() if a.remove_local_copy else []
    if unsent:
        out.write("Not on the server yet (removing this computer's copy discards it):\n")
        for line in unsent:
            out.write(f"  - {line}\n")
        if not a.discard_unsent and not _typed_word("Type DISCARD to discard it and remove "
                                                    "this computer's copy: ", "DISCARD"):
            out.write("Nothing was signed out or removed. Sync first (casedesk sync), or add "
                      "--discard-unsent.\n")
            return 1
    profile = registry.sign_out(ws)
    if profile is None:
        out.write("No server was set up; nothing to sign out of.\n")
    elif not a.remove_local_copy:
        out.write(f"Signed out of {profile.url}; the sign-in was removed from the keychain. "
                  f"{ws.pending_count()} change(s) stay queued for the next sign-in.\n")
    if a.remove_local_copy:
        from desktop import local_copy

        ws.close()
        local_copy.remove(ws.folder)
        out.write(f"This computer's copy was removed from {ws.folder.root}: the cache, the "
                  "stored documents and their keys. Sign in again to fetch the cases.\n")
    return 0


def _typed_word(prompt: str, word: str) -> bool:
    if not _interactive():
        return False
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().strip() == word


def cmd_audit_verify(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    problems = ws.verify_audit()
    count = len(ws.audit_entries())
    if not problems:
        out.write(f"The audit trail is whole: {count} entries, none changed, removed or "
                  "moved.\n")
        return 0
    out.write(f"The audit trail was tampered with ({len(problems)} problem(s)):\n")
    for problem in problems:
        out.write(f"  - {problem}\n")
    return 1


AUDIT_COLUMNS = ("id", "at", "action", "case_id", "document_id", "os_user", "account",
                 "detail")


def cmd_audit_export(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    import csv
    from datetime import UTC, datetime

    from desktop.models.audit import Action

    since = None
    if a.since:
        try:
            since = datetime.fromisoformat(a.since)
        except ValueError:
            raise UsageError(f"--since {a.since!r} is not a date (YYYY-MM-DD).") from None
        since = since.replace(tzinfo=since.tzinfo or UTC)
    case_id = ws.resolve_id(a.case_id) if a.case_id else None
    rows = [e.to_json() for e in ws.audit_entries(case_id, since)]
    if a.format == "json":
        _json(rows, out)
    else:
        writer = csv.DictWriter(out, fieldnames=AUDIT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "detail": json.dumps(row["detail"], ensure_ascii=False,
                                                         sort_keys=True)})
    ws.record_event(Action.EXPORT, case_id, what="audit trail", format=a.format,
                    since=a.since, entries=len(rows))
    return 0


# Where a person goes next, by the command line's means; the window passes its own.
NEXT_STEPS = {"sign_in": "casedesk login", "conflicts": "casedesk conflicts",
              "set_aside": "casedesk pending"}


def sync_summary(report: SyncReport, next_steps: dict[str, str] = NEXT_STEPS) -> str:
    """One line for a person: what happened, and what happens to the work that remains."""
    footnote = ""
    if report.case_changes_kept:
        footnote = (f" {report.case_changes_kept} case change(s) stay on this computer: "
                    f"{report.server} stores files only, not cases.")
    if report.document_removals_kept:
        footnote += (f" {report.document_removals_kept} document removal(s) stay on this "
                     f"computer: {report.server} offers no way to remove a file (remove it "
                     "there, then discard the removal here).")
    if report.auth_required:
        return (f"Sync stopped: {report.error} Your work is kept and will sync after sign-in "
                f"({next_steps['sign_in']})." + footnote)
    if report.offline:
        return (f"Offline: {report.server} could not be reached. Your work is kept and will "
                "sync later." + footnote)
    uploaded = f"{report.uploaded} uploaded"
    if report.general_documents:
        uploaded += (f" ({report.general_documents} as general document(s), not attached to a "
                     "case)")
    if report.files_only:
        parts = [uploaded]
    else:
        parts = [f"{report.created} created", f"{report.updated} updated", uploaded,
                 f"{report.pulled_new} new and {report.pulled_changed} changed from the server"]
    if report.adopted:
        parts.append(f"{report.adopted} matched an earlier attempt")
    if report.conflicts:
        parts.append(f"{report.conflicts} conflict(s) to resolve ({next_steps['conflicts']})")
    if report.parked:
        refused = "refused or set aside" if report.files_only else "refused by the server"
        parts.append(f"{report.parked} {refused} ({next_steps['set_aside']})")
    if report.deferred:
        parts.append(f"{report.deferred} will retry later")
    if report.removed:
        parts.append(f"{report.removed} document(s) removed from the server")
    if report.deleted:
        parts.append(f"{report.deleted} case(s) deleted on the server")
    if report.analyses:
        parts.append(f"{report.analyses} analysis request(s) sent")
    if report.removed_remotely:
        parts.append(f"{report.removed_remotely} removed on the server")
    if report.set_aside:
        reasons = report.set_aside_reasons
        more = f"; {len(reasons) - 1} more in the log" if len(reasons) > 1 else ""
        parts.append(f"{report.set_aside} unreadable server record(s) set aside"
                     + (f" ({reasons[0]}{more})" if reasons else ""))
    if report.overlapped:
        parts.append(f"{report.overlapped} case(s) also changed on the server while being "
                     "saved here (check them)")
    head = f"Synced with {report.server}" if report.files_only else "Synced"
    if report.cancelled:
        head = "Sync cancelled"
    if report.error:
        head = f"Sync incomplete: {report.error}"
    line = f"{head}: " + ", ".join(parts) + "."
    if report.retry_after:
        minutes = max(1, round(report.retry_after / 60))
        line += (f" {report.server[:1].upper() + report.server[1:]} asked to be left alone for "
                 f"{minutes} min; the waiting work is tried again after that.")
    if report.vanished:
        line += (f" The server no longer lists {report.vanished} of your {report.known} cases. "
                 "They are kept on this computer, marked 'removed on the server'; check that "
                 f"you are signed in as the right user ({next_steps['sign_in']}).")
    return line + footnote


def cmd_sync(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    from desktop.sync import runner

    if a.watch:
        def show(report: SyncReport) -> None:
            out.write(sync_summary(report) + "\n")
            out.flush()

        runner.watch(ws, interval=a.interval, on_report=show)
        return 1
    report = runner.run_sync(ws, wait=a.wait)
    out.write(sync_summary(report) + "\n")
    if a.json:
        _json({"report": report.to_json()}, out)
    return 0 if report.ok else 1


def cmd_conflicts(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    rows = ws.conflicts()
    if a.json:
        _json({"conflicts": [r.to_json() for r in rows]}, out)
        return 0
    if not rows:
        out.write("No conflicts.\n")
        return 0
    for r in rows:
        out.write(f"{r.case_id[:8]}  {r.patient_name[:24]:24}  {r.field}\n")
        if r.field == DELETION:
            out.write(_deletion_words(r))
            continue
        out.write(f"    base:   {r.base_value!r}\n    mine:   {r.local_value!r}\n"
                  f"    theirs: {r.server_value!r}\n")
    out.write(f"{len(rows)} conflict(s). Resolve: casedesk resolve CASE_ID FIELD --mine|--theirs\n")
    return 0


def _deletion_words(r: Any) -> str:
    """A case deleted on one side and changed on the other, and what each choice does."""
    if r.local_value == {"deleted": True}:
        theirs = r.server_value or {}
        what = ", ".join(theirs.get("changed_fields") or [])
        files = ", ".join(theirs.get("new_files") or [])
        changed = "; ".join(filter(None, [f"changed {what}" if what else "",
                                          f"new files {files}" if files else ""]))
        return (f"    mine:   deleted here\n    theirs: changed on the server ({changed})\n"
                "    --mine deletes it on the server anyway; --theirs keeps the case\n")
    return ("    mine:   changed here (not yet sent)\n    theirs: deleted on the server\n"
            "    --mine puts it back on the server with its files; --theirs deletes it here "
            "too\n")


def cmd_resolve(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    if a.field == DELETION:
        deleted_here = ws.get_case(a.id).removed_at is not None
        record = ws.resolve_conflict(a.id, a.field, "mine" if a.mine else "theirs")
        if deleted_here:
            done = ("it is deleted on the server at the next sync" if a.mine
                    else "the case stays, with the server's changes")
        else:
            done = ("it goes back to the server at the next sync" if a.mine
                    else "it was deleted here too")
        out.write(f"Resolved the deletion of the case of {record.patient_name}: {done}.\n")
        return 0
    record = ws.resolve_conflict(a.id, a.field, "mine" if a.mine else "theirs")
    kept = "your value will be sent to the server" if a.mine else "the server's value was taken"
    out.write(f"Resolved {a.field} of case {record.id}: {kept}.\n")
    return 0


def cmd_retry(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    ws.retry_change(a.change_id)
    out.write(f"Change {a.change_id} is queued again; it goes with the next sync.\n")
    return 0


def cmd_discard(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    out.write(ws.discard_change(a.change_id) + "\n")
    return 0


def cmd_check(folder: datafolder.DataFolder, a: argparse.Namespace, out: TextIO) -> int:
    from desktop import repair

    keys = folder_keys(folder)
    result = repair.check(folder, keys)
    if result.sound:
        counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in result.counts.items())
        checks = ("SQLCipher's page check and SQLite's integrity check found" if keys
                  else "SQLite's integrity check found")
        out.write(f"The local cache {result.path} is sound: {checks} no problem ({counts}).\n")
        return 0
    out.write(f"The local cache {result.path} is {result.state}:\n")
    for problem in result.problems[:20]:
        out.write(f"  {problem}\n")
    if len(result.problems) > 20:
        out.write(f"  … and {len(result.problems) - 20} more\n")
    out.write("Run `casedesk repair` to move it aside and recover what can still be read.\n")
    return 1


def cmd_repair(folder: datafolder.DataFolder, a: argparse.Namespace, out: TextIO) -> int:
    from desktop import repair

    result = repair.repair(folder, folder_keys(folder))
    if result.nothing_to_do:
        out.write(f"The local cache {folder.cache} is sound; nothing was changed.\n")
        return 0
    if result.moved_to is not None:
        out.write(f"The old cache was moved aside to {result.moved_to} (kept for support).\n")
    out.write(f"A new cache was made at {folder.cache}.\n")
    salvage = result.salvage
    words = {"pending_changes": "changes waiting for the server", "cases": "cases",
             "documents": "documents", "conflicts": "open conflicts",
             "sync_meta": "server sign-in settings"}
    if salvage is None:
        where = ("Nothing could be read from the old cache" if result.moved_to is not None
                 else "There was no old cache to recover from")
        out.write(f"{where}: the cases, documents and changes that were only on this "
                  "computer are lost. Cases on the server come back with the next sync.\n")
    else:
        out.write("Recovered: " + ", ".join(
            f"{salvage.tables[t].recovered} {words[t]}" for t in words) + ".\n")
        requeued = sum(salvage.requeued.values())
        if requeued:
            out.write(f"Queued again for the server: {requeued} change(s) whose outbox entry "
                      "was lost (a new case or file is looked for on the server first).\n")
        lost = []
        for table, outcome in salvage.tables.items():
            if outcome.missing:
                lost.append(f"all {words[table]} (the table could not be read)")
            elif outcome.unreadable or outcome.lost:
                count = f"at least {outcome.lost}" if outcome.lost else "some"
                lost.append(f"{count} {words[table]} on damaged pages")
            if outcome.dropped:
                lost.append(f"{outcome.dropped} {words[table]} that could not be kept (their "
                            "case was lost, or they repeated another row)")
        if lost:
            out.write("Lost (unreadable): " + "; ".join(lost) + ". Cases on the server come "
                      "back with the next sync.\n")
        else:
            out.write("Nothing was found missing: every table read to the end, and no index "
                      "lists a row that could not be read.\n")
    if result.recovered_files:
        out.write(f"{len(result.recovered_files)} stored document(s) no recovered case names "
                  f"were copied to {result.recovered_files_dir} (decrypted: patient data in "
                  "clear); attach them again where they belong, then delete that folder.\n")
    return 0


def cmd_gc(ws: Workspace, a: argparse.Namespace, out: TextIO) -> int:
    result = ws.collect_garbage()
    if result is None:
        out.write("A file intake is under way on this data folder; nothing was removed. Try "
                  "again when it has finished.\n")
        return 1
    out.write(f"Reclaimed {_size(result.bytes)}: {result.blobs} stored document file(s) no "
              f"case uses any more, {result.temp_files} leftover temporary file(s). "
              f"{result.kept} stored document file(s) are in use and were kept.\n")
    return 0


LOOK_HERE = {
    "case": "`casedesk cases list` shows the ids.",
    "change": "`casedesk pending` lists them.",
    "conflict": "`casedesk conflicts` lists them.",
    "document": "`casedesk cases show CASE_ID` lists a case's documents with their ids.",
}


def _no_keychain_hint(env_fallback: bool) -> str:
    if env_fallback:
        return (f"Set {ENV_TOKEN} in the environment for this session instead (it is not "
                "saved), or install a keyring backend (e.g. GNOME Keyring / KWallet).")
    return "Install a keyring backend (e.g. GNOME Keyring / KWallet) and sign in again."


def _login_command(profile: Any) -> str:
    from desktop.sync import registry
    from desktop.sync.kind import Account

    kind = registry.kind_of(profile)
    if kind.sign_in.account is Account.DOCTOR_ID:
        who = f"--user-id {profile.user_id}"
    else:
        who = ("--phone " if profile.user_id.startswith("+") else "--email ") + profile.user_id
    return f"casedesk login --kind {kind.name} --server {profile.url} {who}"


CACHE_REMEDIES = {
    CacheProblem.DISK_FULL: "Free some space on that disk, then try again.",
    CacheProblem.READ_ONLY: "Make the data folder and its files writable by you to make "
                            "changes.",
    CacheProblem.OUTDATED: "Open it once where the folder is writable, so it can be upgraded.",
    CacheProblem.DAMAGED: "Run `casedesk check` for details, then `casedesk repair` to move it "
                          "aside and recover what can still be read.",
    CacheProblem.EMPTY: "Run `casedesk repair` to move it aside and start a new one (it says "
                        "what could be recovered), or restore the file from a backup.",
    CacheProblem.MISSING: "Restore it from a backup, or run `casedesk repair` to start a new "
                          "one.",
    CacheProblem.UNREADABLE: "Run `casedesk check` for details, then `casedesk repair` to move "
                             "it aside and recover what can still be read.",
    CacheProblem.WRONG_KEY: "If the data folder was copied or restored, bring its keys.json and "
                            "keychain entry from the same place; nothing here was changed.",
}

KEY_REMEDIES = {
    "passphrase_needed": "Type it when asked (run the command in a terminal), or set "
                         "CASEDESK_PASSPHRASE in the environment of a script.",
    "new_passphrase_needed": "Run the command in a terminal to choose one, or set "
                             "CASEDESK_PASSPHRASE (8 characters or more) for a script.",
    "wrong_passphrase": "Check CASEDESK_PASSPHRASE, or type the passphrase when asked.",
    "keychain_unavailable": "Unlock the desktop session's keychain (log in to the desktop), then "
                            "try again.",
    "not_in_keychain": "Restore the keychain from a backup of this computer; without the key "
                       "the data cannot be read.",
    "wrong_key": "Restore the keychain entry (casedesk-data-key) that belongs with this folder.",
    "record_missing": "Restore keys.json into the data folder from where its data came from.",
    "record_damaged": "Restore keys.json into the data folder from a backup.",
}


def error_hint(exc: CaseDeskError) -> str:
    """What to type next, for the errors whose remedy is a command or a flag. The core's
    messages say what is wrong; only the command line knows its own commands."""
    from desktop.errors import CacheError, DataFolderError, NotFoundError
    from desktop.folder_key import FolderKeyError
    from desktop.repair import FolderInUseError
    from desktop.sync.credentials import NoKeychainError
    from desktop.sync.profile import (
        AccountMismatchError,
        NotConfiguredError,
        NotSignedInError,
        PlainHttpRefused,
    )

    if isinstance(exc, PlainHttpRefused):
        return ("Only if this server has no https:// address and its network is one you trust: "
                "casedesk login ... --allow-plain-http")
    if isinstance(exc, FolderKeyError):
        return KEY_REMEDIES.get(exc.problem, "")
    if isinstance(exc, NotFoundError):
        return LOOK_HERE.get(exc.what, "")
    if isinstance(exc, CacheError):
        return CACHE_REMEDIES[exc.problem]
    if isinstance(exc, FolderInUseError):
        return "Close the Case Desk window (and any running `casedesk sync --watch`) first."
    if isinstance(exc, DataFolderError):
        return "Choose another folder with --data-dir or CASEDESK_DATA_DIR."
    if isinstance(exc, NotConfiguredError):
        return "To sync, sign in: casedesk login --server URL --user-id DOCTOR_ID"
    if isinstance(exc, NotSignedInError):
        hint = f"Sign in: {_login_command(exc.profile)}"
        return hint if exc.keychain else hint + ". " + _no_keychain_hint(True)
    if isinstance(exc, NoKeychainError):
        return _no_keychain_hint(exc.env_fallback)
    if isinstance(exc, AccountMismatchError):
        return "Use another profile (--profile NAME) for a different server or user."
    return ""


def cache_failure(exc: BaseException, folder: datafolder.DataFolder | None) -> Any:
    """A disk or database failure behind an unexpected error, named (or None)."""
    if folder is None:
        return None
    from desktop.models.cache_health import classify

    return classify(exc, folder.cache)


# ------------------------------------------------------------------ the folder's key

PASSPHRASE_TRIES = 3


def folder_keys(folder: datafolder.DataFolder) -> Any:
    """The folder's keys for commands that work on the files themselves (check, repair);
    None for a folder with no key yet (nothing in it is encrypted)."""
    from desktop import folder_key

    if folder_key.load_record(folder.root) is None:
        return None
    return _with_passphrase(lambda phrase: folder_key.open_keys(folder.root, phrase,
                                                                may_create=False))


def open_workspace(folder: datafolder.DataFolder) -> Workspace:
    """The folder's Workspace, asking for its passphrase on a terminal where no keychain
    holds its key ($CASEDESK_PASSPHRASE in scripts; never a flag, which others can read)."""
    return _with_passphrase(lambda phrase: Workspace(folder, passphrase=phrase))


def _with_passphrase(opening: Callable[[str | None], Any]) -> Any:
    from desktop.folder_key import FolderKeyError, KeyProblem, check_new_secret

    phrase: str | None = None
    for attempt in range(PASSPHRASE_TRIES + 1):
        try:
            return opening(phrase)
        except FolderKeyError as exc:
            asks = exc.problem in (KeyProblem.PASSPHRASE_NEEDED, KeyProblem.NEW_PASSPHRASE_NEEDED,
                                   KeyProblem.WRONG_PASSPHRASE)
            if not asks or attempt == PASSPHRASE_TRIES or not _interactive():
                raise
            if exc.problem is KeyProblem.WRONG_PASSPHRASE:
                sys.stderr.write(f"{exc}\n")
            if exc.problem is KeyProblem.NEW_PASSPHRASE_NEEDED:
                sys.stderr.write(f"{exc}\n")
                phrase = getpass.getpass("Choose a passphrase (8 characters or more): ")
                check_new_secret(phrase, pin_allowed=False)
                if getpass.getpass("The same passphrase again: ") != phrase:
                    raise CaseDeskError("The two passphrases differ; nothing was made.") from None
            else:
                phrase = getpass.getpass("Passphrase of this data folder: ")
    raise AssertionError("unreachable")


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


# Opens the window; supplied by the app shell (desktop/__main__.py) so this module stays Qt-free.
GuiLauncher = Callable[[str | None, str | None], int]


# ------------------------------------------------------------------ parser


def build_parser() -> Parser:
    p = Parser(prog="casedesk", description="Case Desk: patient cases that work offline.")
    p.add_argument("--version", action="version", version=f"casedesk {__version__}")
    p.add_argument("--data-dir", help=f"data folder (default: ${datafolder.ENV_DATA_DIR} or the user data folder)")
    p.add_argument("--profile", help="server profile name (one data folder per profile)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more detail to the log file")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    cases = sub.add_parser("cases", help="list, show, create and edit cases")
    csub = cases.add_subparsers(dest="cases_command", metavar="ACTION", parser_class=Parser, required=True)

    new = csub.add_parser("new", help="create a case")
    new.add_argument("--name", required=True, help="patient name")
    new.add_argument("--age", required=True, help="age in years, 0-150")
    new.add_argument("--gender", required=True, help=f"e.g. {', '.join(KNOWN_GENDERS)}")
    new.add_argument("--summary", help="doctor's notes")
    new.add_argument("--status", help=f"known: {', '.join(KNOWN_STATUSES)}")
    new.add_argument("--anyway", action="store_true",
                     help="create it even if a case of this patient may exist already")
    new.add_argument("--json", action="store_true")
    new.set_defaults(func=cmd_new)

    ls = csub.add_parser("list", help="list cases (archived hidden unless --all or --status archived)")
    ls.add_argument("--search", help="words to find in patient name or notes")
    ls.add_argument("--status", help="only this status")
    ls.add_argument("--all", action="store_true", help="include archived cases")
    ls.add_argument("--sort", default="updated", choices=sorted(SORT_KEYS))
    ls.add_argument("--asc", action="store_true", help="ascending order")
    ls.add_argument("--limit", type=int, default=None)
    ls.add_argument("--offset", type=int, default=0)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    show = csub.add_parser("show", help="one case with its documents")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)

    edit = csub.add_parser("edit", help="change a case's fields")
    edit.add_argument("id")
    edit.add_argument("--name")
    edit.add_argument("--age")
    edit.add_argument("--summary")
    edit.add_argument("--status")
    edit.add_argument("--gender", help=argparse.SUPPRESS)
    edit.add_argument("--json", action="store_true")
    edit.set_defaults(func=cmd_edit)

    arch = csub.add_parser("archive", help="set a case's status to archived")
    arch.add_argument("id")
    arch.set_defaults(func=cmd_archive)

    dele = csub.add_parser("delete", help="delete a case and its documents (on the server at "
                           "the next sync; restorable until then)")
    dele.add_argument("id")
    dele.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    dele.add_argument("--json", action="store_true")
    dele.set_defaults(func=cmd_delete)

    rest = csub.add_parser("restore", help="undo a case's deletion that has not reached the "
                           "server")
    rest.add_argument("id")
    rest.add_argument("--json", action="store_true")
    rest.set_defaults(func=cmd_restore_case)

    ana = csub.add_parser("analyze", help="ask the server to analyse a case (AI insights)")
    ana.add_argument("id")
    ana.add_argument("--json", action="store_true")
    ana.set_defaults(func=cmd_analyze)

    link = csub.add_parser("link", help="file a case's documents under a case on a portal that "
                           "takes them by case id (Care360: the case's UUID)")
    link.add_argument("id")
    link.add_argument("server_case_id", metavar="SERVER_CASE_ID")
    link.set_defaults(func=cmd_link)

    att = sub.add_parser("attach", help="attach files or folders to a case")
    att.add_argument("id")
    att.add_argument("paths", nargs="+", metavar="PATH")
    att.add_argument("--category", choices=("lab", "radiology"), help="override the guessed category")
    att.add_argument("--json", action="store_true")
    att.set_defaults(func=cmd_attach)

    docs = sub.add_parser("documents", help="remove, restore or move a case's documents")
    dsub = docs.add_subparsers(dest="documents_command", metavar="ACTION", parser_class=Parser,
                               required=True)
    drm = dsub.add_parser("remove", help="remove a document from its case (from the server at "
                          "the next sync; restorable until then)")
    drm.add_argument("id", help="document id (or a prefix of 4 characters or more), from "
                     "`casedesk cases show`")
    drm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    drm.add_argument("--json", action="store_true")
    drm.set_defaults(func=cmd_remove_document)
    drs = dsub.add_parser("restore", help="undo a removal that has not reached the server")
    drs.add_argument("id")
    drs.add_argument("--json", action="store_true")
    drs.set_defaults(func=cmd_restore_document)
    dmv = dsub.add_parser("move", help="move a document to another case")
    dmv.add_argument("id", help="document id")
    dmv.add_argument("case", help="the case it goes to")
    dmv.add_argument("--json", action="store_true")
    dmv.set_defaults(func=cmd_move_document)

    pend = sub.add_parser("pending", help="what waits for the server")
    pend.add_argument("--json", action="store_true")
    pend.set_defaults(func=cmd_pending)

    retry = sub.add_parser("retry", help="queue a refused or postponed change again")
    retry.add_argument("change_id", type=int, help="id from `casedesk pending`")
    retry.set_defaults(func=cmd_retry)

    discard = sub.add_parser("discard", help="give up a change the server refused")
    discard.add_argument("change_id", type=int, help="id from `casedesk pending`")
    discard.set_defaults(func=cmd_discard)

    from desktop.sync import registry

    login = sub.add_parser("login", help="sign in to a server (secrets prompted, kept in the "
                           "keychain)")
    login.add_argument("--server", required=True, help="server address, e.g. https://cases.example.org")
    login.add_argument("--kind", choices=registry.names(), default=registry.DEFAULT,
                       help="server kind (default %(default)s); a patient portal asks for an "
                       "API key and a one-time code")
    login.add_argument("--user-id", help="your doctor id on a case server")
    who = login.add_mutually_exclusive_group()
    who.add_argument("--email", help="the email address a one-time code goes to")
    who.add_argument("--phone", help="the phone number a one-time code goes to (SMS)")
    login.add_argument("--no-verify", action="store_true",
                       help="save without contacting the server (the token is checked on sync)")
    login.add_argument("--allow-plain-http", action="store_true",
                       help="allow an unencrypted http:// server on another computer (the token "
                            "and patient data cross the network in clear)")
    login.set_defaults(func=cmd_login)

    logout = sub.add_parser("logout", help="forget the token; queued work stays")
    logout.add_argument("--remove-local-copy", action="store_true",
                        help="also remove this computer's cases, documents and keys (asks "
                             "first when work has not reached the server)")
    logout.add_argument("--discard-unsent", action="store_true",
                        help="with --remove-local-copy: discard unsent work without asking")
    logout.set_defaults(func=cmd_logout)

    sync = sub.add_parser("sync", help="send pending work and fetch the server's changes")
    sync.add_argument("--watch", action="store_true", help="keep syncing while running")
    sync.add_argument("--interval", type=float, default=60.0, help="seconds between syncs with --watch")
    sync.add_argument("--wait", type=float, default=0.0,
                      help="seconds to wait if another sync is running (default: exit at once)")
    sync.add_argument("--json", action="store_true")
    sync.set_defaults(func=cmd_sync)

    conf = sub.add_parser("conflicts", help="fields changed both here and on the server")
    conf.add_argument("--json", action="store_true")
    conf.set_defaults(func=cmd_conflicts)

    res = sub.add_parser("resolve", help="settle one conflicting field")
    res.add_argument("id", help="case id")
    res.add_argument("field", help="field name, e.g. case_summary; `case` for a case deleted "
                     "on one side and changed on the other")
    side = res.add_mutually_exclusive_group(required=True)
    side.add_argument("--mine", action="store_true", help="keep my value")
    side.add_argument("--theirs", action="store_true", help="take the server's value")
    res.set_defaults(func=cmd_resolve)

    chk = sub.add_parser("check", help="check the local cache page by page (SQLite's "
                         "integrity check)")
    chk.set_defaults(func=cmd_check, on_folder=True)

    rep = sub.add_parser("repair", help="move a damaged or empty cache aside, make a new one "
                         "and recover into it what can still be read")
    rep.set_defaults(func=cmd_repair, on_folder=True)

    gcp = sub.add_parser("gc", help="reclaim stored document files no case uses any more")
    gcp.set_defaults(func=cmd_gc)

    aud = sub.add_parser("audit", help="the record of who viewed or changed what, and when")
    asub = aud.add_subparsers(dest="audit_command", metavar="ACTION", parser_class=Parser,
                              required=True)
    aver = asub.add_parser("verify", help="check that no entry was changed, removed or moved")
    aver.set_defaults(func=cmd_audit_verify)
    aexp = asub.add_parser("export", help="write the entries to standard output")
    aexp.add_argument("--case", dest="case_id", help="only this case's entries")
    aexp.add_argument("--since", help="only entries from this date on (YYYY-MM-DD, UTC)")
    aexp.add_argument("--format", choices=("csv", "json"), required=True)
    aexp.set_defaults(func=cmd_audit_export)

    gui = sub.add_parser("gui", help="open the window (the default with no command)")
    gui.set_defaults(func=None)
    return p




def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    gui: GuiLauncher | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        err.write(f"casedesk: usage error: {exc}\n")
        return 2
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    folder: datafolder.DataFolder | None = None
    try:
        root = datafolder.resolve(args.data_dir, args.profile)
        folder = datafolder.prepare(root)
        applogs.configure(folder.logs, verbose=args.verbose)
        if args.command in (None, "gui"):
            if gui is None:
                raise CaseDeskError(
                    "The window is not available here; use the commands (`casedesk --help`)."
                )
            return gui(args.data_dir, args.profile)
        if getattr(args, "on_folder", False):  # works on a cache that will not open
            return int(args.func(folder, args, out))
        with open_workspace(folder) as ws:
            return int(args.func(ws, args, out))
    except UsageError as exc:
        err.write(f"casedesk: usage error: {exc}\n")
        return 2
    except CaseDeskError as exc:
        hint = error_hint(exc)
        err.write(f"casedesk: error: {exc}" + (f" {hint}" if hint else "") + "\n")
        return exc.exit_code
    except KeyboardInterrupt:
        err.write("casedesk: interrupted; everything saved before that is kept.\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback in front of a user
        found = cache_failure(exc, folder)
        if found is not None:
            log.warning("cache failure: %s", found.problem)
            err.write(f"casedesk: error: {found} {error_hint(found)}\n")
            return 1
        log.exception("unexpected error")
        # Nothing here was checked, so nothing is claimed about the data.
        err.write(
            "casedesk: error: something unexpected went wrong. "
            "Details are in the log file (logs/casedesk.log in the data folder).\n"
        )
        return 1
