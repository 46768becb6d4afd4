"""Signing in to a MedMitra case server: a doctor id and a bearer token.

The token goes to the keychain only. It is checked against the server when the server can be
reached (an unreachable server still saves the profile: the token is checked on first sync).
"""

from __future__ import annotations

import logging

import httpx

from desktop.errors import ValidationError
from desktop.sync import credentials
from desktop.sync import errors as err
from desktop.sync.kind import SignInResult
from desktop.sync.medmitra.client import MedMitraClient
from desktop.sync.profile import (
    NotSignedInError,
    ServerProfile,
    check_transport,
    ensure_same_account,
    plain_http_to_remote,
    save_profile,
    validate_url,
)
from desktop.workspace import Workspace

log = logging.getLogger(__name__)


def sign_in(
    ws: Workspace,
    kind: str,
    url: str,
    user_id: str,
    token: str,
    *,
    verify: bool = True,
    transport: httpx.BaseTransport | None = None,
    allow_plain_http: bool = False,
) -> SignInResult:
    url = validate_url(url, allow_plain_http)
    user_id, token = user_id.strip(), token.strip()
    if not user_id:
        raise ValidationError("User id is required (your doctor id on the server).")
    if not token:
        raise ValidationError("Token is required.")
    ensure_same_account(ws, url, user_id)
    verified = False
    if verify:
        with MedMitraClient(url, token, user_id, transport=transport) as client:
            try:
                for _record in client.iter_case_records():  # read whole, none kept
                    pass
                verified = True
            except err.OfflineError:
                verified = False
    stored = credentials.keychain_available()
    if stored:
        credentials.store_secret(url, user_id, token)
    profile = ServerProfile(kind, url, user_id, allow_plain_http and plain_http_to_remote(url))
    save_profile(ws, profile)
    log.info("signed in kind=%s verified=%s keychain=%s", kind, verified, stored)
    return SignInResult(profile, verified, stored)


def open_client(
    profile: ServerProfile, transport: httpx.BaseTransport | None = None
) -> MedMitraClient:
    check_transport(profile)
    token = credentials.load_secret(profile.url, profile.user_id)
    if not token:
        raise NotSignedInError(profile, keychain=credentials.keychain_available())
    return MedMitraClient(profile.url, token, profile.user_id, transport=transport)


def forget(profile: ServerProfile) -> None:
    credentials.delete_secret(profile.url, profile.user_id)
