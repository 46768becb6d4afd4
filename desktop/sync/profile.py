"""Which server a data folder syncs with, as plain settings in the cache's sync_meta row.

The server kind is stored by name and only the registry turns it into behaviour; the secrets
live in the keychain (``credentials``), never here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select

from desktop.errors import CaseDeskError, ValidationError
from desktop.models import audit
from desktop.models.tables import Case, SyncMeta
from desktop.sync import credentials
from desktop.workspace import Workspace


@dataclass(frozen=True)
class ServerProfile:
    kind: str  # a registry name
    url: str
    user_id: str  # the account on that server: a doctor id, an email address or a phone
    # The person allowed plain http:// to this server although it is not on this computer.
    plain_http_allowed: bool = False

    @property
    def plain_http(self) -> bool:
        """Does this profile talk to its server unencrypted (http://, loopback or not)?"""
        return urlsplit(self.url).scheme.lower() == "http"


@dataclass(frozen=True)
class SyncStatus:
    profile: ServerProfile | None
    last_success_at: datetime | None


class NotConfiguredError(CaseDeskError):
    """No server set up: a normal, complete way to use Case Desk."""

    def __init__(self) -> None:
        super().__init__("No server is set up for this data folder; everything works offline.")


class NotSignedInError(CaseDeskError):
    """A server is set up, but no sign-in is kept for it: the person must sign in."""

    def __init__(self, profile: ServerProfile, keychain: bool) -> None:
        super().__init__(f"Not signed in to {profile.url} as {profile.user_id}.")
        self.profile = profile
        self.keychain = keychain  # False: there is no keychain to keep a sign-in in


class AccountMismatchError(ValidationError):
    """The folder's cases belong to one server account; another would not know their ids."""

    def __init__(self, existing: ServerProfile) -> None:
        super().__init__(
            f"This data folder already syncs with {existing.url} as {existing.user_id}; "
            "a different server or user needs a profile of its own."
        )
        self.existing = existing


class PlainHttpRefused(ValidationError):
    """http:// to a server that is not on this computer: the token and patient data would
    cross the network in clear, so it takes the person's explicit allowance for that server."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"{url} is an unencrypted (http://) address of another computer: your sign-in "
            "token and patient data would cross the network readable by anyone on the way. "
            "Use its https:// address."
        )
        self.url = url


def is_loopback(url: str) -> bool:
    """Is the server on this computer (localhost, 127.0.0.0/8, ::1)?"""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_to_remote(url: str) -> bool:
    return urlsplit(url).scheme.lower() == "http" and not is_loopback(url)


def validate_url(url: str, allow_plain_http: bool = False) -> str:
    """A usable server address; http:// to another computer only when the person allowed it."""
    url = credentials.normalise_url(url)
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            f"Server address {url!r} is not a web address; give one like https://cases.example.org"
        )
    if plain_http_to_remote(url) and not allow_plain_http:
        raise PlainHttpRefused(url)
    return url


def check_transport(profile: ServerProfile) -> None:
    """Before any request of a saved profile: an http:// address of another computer needs
    the allowance given for it (a profile saved by an older version has none)."""
    if plain_http_to_remote(profile.url) and not profile.plain_http_allowed:
        raise PlainHttpRefused(profile.url)


def current_server(ws: Workspace) -> ServerProfile | None:
    return sync_status(ws).profile


def sync_status(ws: Workspace) -> SyncStatus:
    """The profile and the time of the last successful sync, in one short read."""
    with ws.sessions() as s:
        meta = s.get(SyncMeta, 1)
        if meta is None:
            return SyncStatus(None, None)
        profile = None
        if meta.server_url and meta.user_id:
            # An empty kind is read by the registry as its default kind.
            profile = ServerProfile(meta.server_kind or "", meta.server_url, meta.user_id,
                                    bool(meta.allow_plain_http))
        return SyncStatus(profile, meta.last_success_at)


def ensure_same_account(ws: Workspace, url: str, user_id: str) -> None:
    """Refuse to point a folder whose cases came from one server account at another: their
    server ids would mean nothing there. Every kind's sign-in checks this first."""
    existing = current_server(ws)
    if existing and (existing.url, existing.user_id) != (url, user_id):
        with ws.sessions() as s:
            linked = s.scalar(select(func.count()).select_from(Case).where(
                Case.server_id.is_not(None)))
        if linked:
            raise AccountMismatchError(existing)


def save_profile(ws: Workspace, profile: ServerProfile) -> None:
    with ws.transaction() as s:
        meta = s.get(SyncMeta, 1) or SyncMeta(id=1)
        s.add(meta)
        meta.server_kind, meta.server_url, meta.user_id = profile.kind, profile.url, profile.user_id
        meta.allow_plain_http = profile.plain_http_allowed
        meta.last_error = None
        s.flush()
        ws.record(s, audit.Action.SIGN_IN)
