"""Which server this data folder syncs with, and signing in and out of it.

The server URL and user id are plain settings (kept in the cache's sync_meta row); the token
goes only to the keychain through ``credentials``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select

from desktop.errors import CaseDeskError, ValidationError
from desktop.models.tables import Case, SyncMeta
from desktop.sync import credentials
from desktop.sync import errors as err
from desktop.sync.api import MedMitraClient
from desktop.sync.care360 import Care360Client
from desktop.workspace import Workspace

log = logging.getLogger(__name__)

KINDS = ("medmitra", "care360")


class NotConfiguredError(CaseDeskError):
    """No server set up: a normal, complete way to use Case Desk."""

    def __init__(self) -> None:
        super().__init__(
            "No server is set up for this data folder; everything works offline. To sync, "
            "sign in: casedesk login --server URL --user-id DOCTOR_ID"
        )


@dataclass(frozen=True)
class ServerProfile:
    kind: str
    url: str
    user_id: str


@dataclass(frozen=True)
class SignInResult:
    profile: ServerProfile
    verified: bool  # False when the server could not be reached to check the token
    stored_in_keychain: bool


def validate_url(url: str) -> str:
    url = credentials.normalise_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(
            f"Server address {url!r} is not a web address; give one like https://cases.example.org"
        )
    return url


def current_server(ws: Workspace) -> ServerProfile | None:
    with ws.sessions() as s:
        meta = s.get(SyncMeta, 1)
        if meta is None or not meta.server_url or not meta.user_id:
            return None
        return ServerProfile(meta.server_kind or "medmitra", meta.server_url, meta.user_id)


def ensure_same_account(ws: Workspace, url: str, user_id: str) -> None:
    """Refuse to point a folder whose cases came from one server account at another: their
    server ids would mean nothing there. Either dialect's sign-in checks this first."""
    existing = current_server(ws)
    if existing and (existing.url, existing.user_id) != (url, user_id):
        with ws.sessions() as s:
            linked = s.scalar(select(func.count()).select_from(Case).where(
                Case.server_id.is_not(None)))
        if linked:
            raise ValidationError(
                f"This data folder already syncs with {existing.url} as {existing.user_id}. "
                "Use another profile (--profile NAME) for a different server or user."
            )


def sign_in(
    ws: Workspace, url: str, user_id: str, token: str, kind: str = "medmitra", verify: bool = True
) -> SignInResult:
    url = validate_url(url)
    user_id = user_id.strip()
    token = token.strip()
    if not user_id:
        raise ValidationError("User id is required (your doctor id on the server).")
    if not token:
        raise ValidationError("Token is required.")
    if kind not in KINDS:
        raise ValidationError(f"Unknown server kind {kind!r}: choose one of {', '.join(KINDS)}.")
    if kind == "care360":
        raise ValidationError("Care360 signs in with an API key and a one-time code: "
                              "casedesk login --kind care360 --server URL --email ADDRESS")
    ensure_same_account(ws, url, user_id)
    verified = False
    if verify:
        with MedMitraClient(url, token, user_id) as client:
            try:
                client.list_cases()
                verified = True
            except err.OfflineError:
                verified = False
    stored = credentials.keychain_available()
    if stored:
        credentials.store_secret(url, user_id, token)
    with ws.transaction() as s:
        meta = s.get(SyncMeta, 1) or SyncMeta(id=1)
        s.add(meta)
        meta.server_kind, meta.server_url, meta.user_id = kind, url, user_id
        meta.last_error = None
    log.info("signed in kind=%s verified=%s keychain=%s", kind, verified, stored)
    return SignInResult(ServerProfile(kind, url, user_id), verified, stored)


def sign_out(ws: Workspace) -> ServerProfile | None:
    """Forget the token; queued work stays and syncs after the next sign-in."""
    profile = current_server(ws)
    if profile is not None and profile.kind == "care360":
        from desktop.sync.care360_signin import Care360Vault

        Care360Vault(profile.url, profile.user_id).forget()
    elif profile is not None:
        credentials.delete_secret(profile.url, profile.user_id)
    return profile


def open_client(ws: Workspace) -> MedMitraClient | Care360Client:
    profile = current_server(ws)
    if profile is None:
        raise NotConfiguredError()
    if profile.kind == "care360":
        from desktop.sync.care360_signin import open_care360_client

        return open_care360_client(profile)
    token = credentials.load_secret(profile.url, profile.user_id)
    if not token:
        hint = "" if credentials.keychain_available() else " " + credentials.NO_KEYCHAIN_MESSAGE
        raise credentials.NotSignedInError(
            f"Not signed in to {profile.url}: casedesk login --server {profile.url} "
            f"--user-id {profile.user_id}.{hint}"
        )
    return MedMitraClient(profile.url, token, profile.user_id)
