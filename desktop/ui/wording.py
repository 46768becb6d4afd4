"""The window's own words for what the core reports as data: sync states and progress, a sync
run's outcome, and the next step for errors whose remedy is an action in this window.

The command line has its own (with its commands); the core has none of either.
"""

from __future__ import annotations

from desktop.cli import patient_warning as patient_warning  # a DICOM naming another patient
from desktop.cli import search_note as search_note  # a long search: the command line's words
from desktop.cli import sync_summary
from desktop.errors import CacheError, CacheProblem, CaseDeskError
from desktop.folder_key import FolderKeyError
from desktop.sync.credentials import NoKeychainError
from desktop.sync.profile import NotConfiguredError, NotSignedInError
from desktop.sync.report import Phase, SyncProgress, SyncReport

# The one vocabulary of the connection, in the toolbar and the status bar alike.
NO_SERVER, OFFLINE, ONLINE, SYNCING, SIGN_IN, SESSION = (
    "no-server", "offline", "online", "syncing", "sign-in", "session")
CONNECTION_TEXT = {
    NO_SERVER: "No server",
    OFFLINE: "Offline",
    ONLINE: "Online",
    SYNCING: "Syncing…",
    SIGN_IN: "Sign-in needed",
    SESSION: "Signed in for this session only",
}
# What each state means for the work on this computer (the state's tooltip).
CONNECTION_DETAIL = {
    NO_SERVER: "No server is set up: everything is kept on this computer. Sign in to sync.",
    OFFLINE: "The server cannot be reached: your work is kept here and syncs when it can.",
    ONLINE: "Signed in; changes are sent to the server a few seconds after you save.",
    SYNCING: "Sending your changes and fetching the server's.",
    SIGN_IN: "Not signed in: your work is kept here and syncs after you sign in.",
    SESSION: "There is no keychain on this computer: the sign-in lasts until Case Desk "
             "closes. Changes are sent a few seconds after you save.",
}


WARNING = "#b45309"  # the colour of a warning the person should look at (never a refusal)

# Where an analysis stands, as the case view and the list say it.
ANALYSIS_TEXT = {"requested": "Analysis requested (sent with the next sync)",
                 "processing": "Analysis: processing…", "analyzing": "Analysis: analyzing…",
                 "completed": "Analysis completed: see AI insights",
                 "failed": "Analysis failed"}


def saved_text(state: str, what: str = "Saved") -> str:
    """After a save or a create: where the change is, and when it goes, in this state."""
    if state in (ONLINE, SESSION, SYNCING):
        return f"{what} on this computer; it goes to the server in a few seconds."
    if state == OFFLINE:
        return f"{what} on this computer; it goes to the server when it can be reached."
    if state == SIGN_IN:
        return f"{what} on this computer; it goes to the server after you sign in."
    return f"{what} on this computer."

NO_KEYCHAIN_SESSION = ("There is no keychain on this computer, so the sign-in lasts until Case "
                       "Desk closes.")


REPAIR = ("Close Case Desk and repair the cache from the command line (its repair command "
          "moves the file aside and recovers what can still be read).")
CACHE_REMEDIES = {
    CacheProblem.DISK_FULL: "Free some space on that disk, then try again.",
    CacheProblem.READ_ONLY: "Make the data folder and its files writable to save changes; "
                            "everything can still be read.",
    CacheProblem.OUTDATED: "Open it once where the folder is writable, so it can be upgraded.",
    CacheProblem.DAMAGED: REPAIR,
    CacheProblem.EMPTY: REPAIR + " Or restore the file from a backup.",
    CacheProblem.MISSING: "Restore it from a backup, or " + REPAIR[0].lower() + REPAIR[1:],
    CacheProblem.UNREADABLE: REPAIR,
    CacheProblem.WRONG_KEY: "If the data folder was copied or restored, bring its key record "
                            "(keys.json) and its keychain entry from the same place; nothing "
                            "was changed.",
}

KEY_REMEDIES = {
    "keychain_unavailable": "Unlock the desktop session's keychain, then start Case Desk again.",
    "not_in_keychain": "Restore the keychain from a backup of this computer; without the key "
                       "the data cannot be read.",
    "wrong_key": "Restore the keychain entry that belongs with this data folder.",
    "record_missing": "Restore keys.json into the data folder from where its data came from.",
    "record_damaged": "Restore keys.json into the data folder from a backup.",
}


def error_hint(error: CaseDeskError) -> str:
    """What to do next, in this window's terms (never a command line)."""
    if isinstance(error, CacheError):
        return CACHE_REMEDIES[error.problem]
    if isinstance(error, FolderKeyError):
        return KEY_REMEDIES.get(error.problem, "")
    if isinstance(error, NotConfiguredError):
        return "Sign in to a server to sync."
    if isinstance(error, NotSignedInError):
        return "Sign in again to sync." + ("" if error.keychain else " " + NO_KEYCHAIN_SESSION)
    if isinstance(error, NoKeychainError):
        if error.env_fallback:
            return NO_KEYCHAIN_SESSION
        return "Install a keychain (GNOME Keyring or KWallet) to sign in to this server."
    return ""


def progress_text(progress: SyncProgress) -> str:
    if progress.phase is Phase.PUSH:
        return "Sending your changes"
    if progress.phase is Phase.UPLOAD:
        return f"Uploading {progress.name}" if progress.name else "Sending a new case with its files"
    if progress.phase is Phase.PULL:
        if progress.total:  # the whole list is in: storing it
            return f"Storing the server's cases ({progress.done:,} of {progress.total:,})"
        if progress.done:  # counted as they arrive: how many come is known at the end only
            return f"Fetching the server's cases ({progress.done:,} read)"
        return "Fetching the server's cases"
    if progress.phase is Phase.FILES:
        return "Refreshing documents"
    if progress.phase is Phase.DOWNLOAD:
        return "Downloading"
    return ""


WINDOW_NEXT_STEPS = {"sign_in": "Sign in…", "conflicts": "Conflicts…",
                     "set_aside": "the case shows why"}


def report_text(report: SyncReport) -> str:
    """One line for the status bar after a sync: the command line's summary, with this
    window's next steps instead of commands."""
    return sync_summary(report, WINDOW_NEXT_STEPS)

