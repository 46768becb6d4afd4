"""What a server kind is to the rest of Case Desk: one object per kind, found in the registry.

A kind says how a person signs in (as data: which account and which secret it asks for, and
whether a one-time code follows), opens a client for a saved profile, builds the outbox
engine that speaks it, and forgets its secrets on sign-out. The command line and the window
ask the kind instead of comparing kind names, so a new kind is one package and one registry
line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from desktop.errors import ValidationError
from desktop.sync import credentials
from desktop.sync.outbox import OutboxEngine
from desktop.sync.profile import ServerProfile
from desktop.workspace import Workspace

if TYPE_CHECKING:  # httpx loads with the first client, not with the window (~50 ms)
    import httpx


class Account(StrEnum):
    """Who the person is on that server."""

    DOCTOR_ID = "doctor_id"  # the doctor's id on a case server
    EMAIL_OR_PHONE = "email_or_phone"  # where a one-time code is sent


class Secret(StrEnum):
    """What proves it, typed once and kept in the keychain."""

    TOKEN = "token"
    API_KEY = "api_key"


@dataclass(frozen=True)
class SignInShape:
    account: Account
    secret: Secret
    one_time_code: bool  # a code sent by email or SMS completes the sign-in


@dataclass(frozen=True)
class SignInResult:
    profile: ServerProfile
    verified: bool  # False when the server could not be reached to check the secret
    stored_in_keychain: bool


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True)
class CodeSent:
    """Between the two steps of a sign-in with a one-time code: the code went to
    ``address`` by ``channel``; the secret is held in memory only, until the code comes."""

    kind: str
    url: str
    channel: Channel
    address: str
    secret: str = field(repr=False)
    allow_plain_http: bool = False

    @property
    def account(self) -> str:
        """What the keychain entries and the profile are keyed by."""
        return self.address


class ServerKind(ABC):
    """One kind of server. Subclasses live in their own package (``desktop.sync.<kind>``)."""

    name: str  # stored in the profile; never shown
    title: str  # the product, for people ("Care360 patient portal")
    short_title: str  # the product in a sentence ("Care360")
    sign_in: SignInShape
    links_cases: bool = False  # a local case can be tied to a case id on that server by hand

    @abstractmethod
    def begin_sign_in(
        self, ws: Workspace, url: str, account: str, secret: str, *, verify: bool = True,
        transport: httpx.BaseTransport | None = None, allow_plain_http: bool = False,
    ) -> SignInResult | CodeSent:
        """Check the inputs and sign in, or (one-time code) send the code and wait for it.

        ``verify=False`` never contacts the server (a kind that cannot sign in without it
        refuses); ``allow_plain_http``: the person allowed http:// to this server."""

    def finish_sign_in(
        self, ws: Workspace, pending: CodeSent, code: str,
        transport: httpx.BaseTransport | None = None,
    ) -> SignInResult:
        raise ValidationError(f"{self.short_title} signs in without a one-time code.")

    @abstractmethod
    def open_client(
        self, profile: ServerProfile, transport: httpx.BaseTransport | None = None
    ) -> Any:
        """A client for the saved profile, with its secrets from the keychain."""

    @abstractmethod
    def engine(self, ws: Workspace, client: Any, **options: Any) -> OutboxEngine:
        """The outbox engine that speaks this kind, on ``client``."""

    @abstractmethod
    def forget(self, profile: ServerProfile) -> None:
        """Remove this profile's secrets from the keychain."""

    def sign_in_kept(self, profile: ServerProfile) -> credentials.Kept:
        """Where the profile's secret is (keychain, this session only, nowhere): what the
        window says before any sync has asked the server."""
        return credentials.where_kept(profile.url, profile.user_id, self.sign_in.secret.value)

    def link_case(self, ws: Workspace, case_id: str, server_ref: str) -> None:
        raise ValidationError(
            f"A {self.short_title} case gets its server id when it is first sent; it cannot "
            "be linked by hand."
        )
