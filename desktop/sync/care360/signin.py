"""Signing in to a Care360 server (API key + one-time code) and keeping its secrets safe.

Both the command line and the window run these two steps, through the registry's kind.

The API key and the refresh token live only in the keychain (``credentials``), under distinct
names. The refresh token rotates on every renewal, and the server revokes the whole sign-in
when an old one is replayed, so a rotation is written in three steps — ``refresh_token.next``
first, then ``refresh_token``, then ``.next`` is deleted — and loading prefers ``.next``: a
crash (or a full disk, or a killed process) between the steps never signs the person out.
The access token is kept in memory only: it lasts 15 minutes and is renewed per run.
"""

from __future__ import annotations

import logging
import re

import httpx

from desktop.errors import ValidationError
from desktop.sync import credentials
from desktop.sync import errors as err
from desktop.sync.care360.client import Care360Client
from desktop.sync.kind import Channel, CodeSent, SignInResult
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

API_KEY = "api_key"
REFRESH = "refresh_token"
REFRESH_NEXT = "refresh_token.next"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")
_CODE = re.compile(r"^\d{6}$")


class Care360Vault:
    """The keychain entries of one Care360 sign-in (server URL + email/phone)."""

    def __init__(self, url: str, user_id: str) -> None:
        self.url, self.user_id = url, user_id

    def api_key(self) -> str | None:
        return credentials.load_secret(self.url, self.user_id, API_KEY)

    def refresh_token(self) -> str | None:
        """The newest refresh token: a ``.next`` left by an interrupted rotation wins."""
        return (credentials.load_secret(self.url, self.user_id, REFRESH_NEXT)
                or credentials.load_secret(self.url, self.user_id, REFRESH))

    def store_refresh(self, token: str) -> None:
        """Durably replace the refresh token; safe against a crash between any two steps."""
        credentials.store_secret(self.url, self.user_id, token, REFRESH_NEXT)
        credentials.store_secret(self.url, self.user_id, token, REFRESH)
        credentials.delete_secret(self.url, self.user_id, REFRESH_NEXT)

    def store_api_key(self, key: str) -> None:
        credentials.store_secret(self.url, self.user_id, key, API_KEY)

    def forget(self) -> None:
        for name in (REFRESH_NEXT, REFRESH, API_KEY):
            credentials.delete_secret(self.url, self.user_id, name)


def _identity(contact: str) -> tuple[str | None, str | None]:
    """An email address (it has an @) or a phone number, normalised."""
    contact = (contact or "").strip()
    if not contact:
        raise ValidationError("Give the email address or the phone number the code goes to.")
    email, phone = (contact.lower(), None) if "@" in contact else (None, contact)
    if email is not None and not _EMAIL.match(email):
        raise ValidationError(f"{email!r} is not an email address.")
    if phone is not None:
        if not _PHONE.match(phone):
            raise ValidationError(f"{phone!r} is not a phone number; give it like +15551234567.")
        phone = "+" + re.sub(r"\D", "", phone)
    return email, phone


def start_sign_in(
    kind: str,
    url: str,
    contact: str,
    api_key: str,
    transport: httpx.BaseTransport | None = None,
    allow_plain_http: bool = False,
) -> CodeSent:
    """Step 1: check the inputs and ask Care360 to send a one-time code to ``contact``."""
    url = validate_url(url, allow_plain_http)
    allowed = allow_plain_http and plain_http_to_remote(url)
    api_key = api_key.strip()
    if not api_key:
        raise ValidationError("The Care360 API key is required (your clinic's cv-api-key).")
    if not credentials.keychain_available():
        raise credentials.NoKeychainError(
            "No keychain is available on this computer, so Case Desk cannot keep a Care360 "
            "sign-in (its token changes on every use and must be stored safely).",
            env_fallback=False,
        )
    email, phone = _identity(contact)
    with Care360Client(url, api_key, email or phone or "", transport=transport) as client:
        try:
            client.send_otp(email=email, phone=phone)
        except err.AuthError as exc:
            raise ValidationError(
                "Care360 did not accept the API key" + (f" ({exc.detail})" if exc.detail
                                                        else "") + "; check it and try again."
            ) from None
    log.info("care360 sign-in: code sent via %s", "email" if email else "sms")
    if email is not None:
        return CodeSent(kind, url, Channel.EMAIL, email, api_key, allowed)
    assert phone is not None
    return CodeSent(kind, url, Channel.SMS, phone, api_key, allowed)


def finish_sign_in(
    ws: Workspace,
    pending: CodeSent,
    code: str,
    transport: httpx.BaseTransport | None = None,
) -> SignInResult:
    """Step 2: exchange the code for tokens; store key + refresh token; save the profile."""
    code = re.sub(r"\s", "", code or "")
    if not _CODE.match(code):
        raise ValidationError("The code has 6 digits; type it as it arrived.")
    ensure_same_account(ws, pending.url, pending.account)
    email = pending.address if pending.channel is Channel.EMAIL else None
    phone = pending.address if pending.channel is Channel.SMS else None
    with Care360Client(pending.url, pending.secret, pending.account,
                       transport=transport) as client:
        try:
            tokens = client.verify_otp(code, email=email, phone=phone)
        except err.AuthError as exc:
            raise ValidationError(
                "Care360 did not accept that code (wrong or expired). Ask for a new one and "
                "try again." + (f" ({exc.detail})" if exc.detail else "")
            ) from None
    vault = Care360Vault(pending.url, pending.account)
    vault.store_api_key(pending.secret)
    vault.store_refresh(tokens.refresh)
    profile = ServerProfile(pending.kind, pending.url, pending.account,
                            pending.allow_plain_http)
    save_profile(ws, profile)
    log.info("signed in kind=care360")
    return SignInResult(profile, True, True)


def open_client(
    profile: ServerProfile, transport: httpx.BaseTransport | None = None
) -> Care360Client:
    """A client whose refresh-token rotations are written to the keychain as they happen."""
    check_transport(profile)
    vault = Care360Vault(profile.url, profile.user_id)
    api_key, refresh = vault.api_key(), vault.refresh_token()
    if not api_key or not refresh:
        raise NotSignedInError(profile, keychain=credentials.keychain_available())

    def rotate(token: str) -> None:
        try:
            vault.store_refresh(token)
        except credentials.NoKeychainError:
            # The new token works for this run; the next run will ask for sign-in.
            log.warning("care360: the keychain refused the renewed sign-in")

    return Care360Client(profile.url, api_key, profile.user_id, refresh_token=refresh,
                         on_rotate=rotate, transport=transport)
