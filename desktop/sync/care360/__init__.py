"""Care360 patient portals (dialect 2): documents only, signed in with an API key and a
one-time code, with a rotating refresh token kept safe in the keychain.

The package holds everything that depends on how Care360 speaks: the client, its records and
streamed upload body, the two-step sign-in and the engine's upload step.
"""

from __future__ import annotations

from typing import Any

import httpx

from desktop.errors import ValidationError
from desktop.sync.care360 import signin
from desktop.sync.care360.client import Care360Client
from desktop.sync.care360.engine import Care360Engine, link_case
from desktop.sync.kind import Account, CodeSent, Secret, ServerKind, SignInResult, SignInShape
from desktop.sync.profile import ServerProfile
from desktop.workspace import Workspace


class Care360Kind(ServerKind):
    name = "care360"
    title = "Care360 patient portal"
    short_title = "Care360"
    sign_in = SignInShape(Account.EMAIL_OR_PHONE, Secret.API_KEY, one_time_code=True)
    links_cases = True

    def begin_sign_in(
        self, ws: Workspace, url: str, account: str, secret: str, *, verify: bool = True,
        transport: httpx.BaseTransport | None = None, allow_plain_http: bool = False,
    ) -> CodeSent:
        if not verify:
            raise ValidationError(
                f"A {self.short_title} sign-in cannot be saved unchecked: the one-time code "
                "comes from the server.")
        return signin.start_sign_in(self.name, url, account, secret, transport=transport,
                                    allow_plain_http=allow_plain_http)

    def finish_sign_in(
        self, ws: Workspace, pending: CodeSent, code: str,
        transport: httpx.BaseTransport | None = None,
    ) -> SignInResult:
        return signin.finish_sign_in(ws, pending, code, transport=transport)

    def open_client(
        self, profile: ServerProfile, transport: httpx.BaseTransport | None = None
    ) -> Care360Client:
        return signin.open_client(profile, transport)

    def engine(self, ws: Workspace, client: Any, **options: Any) -> Care360Engine:
        return Care360Engine(ws, client, **options)

    def forget(self, profile: ServerProfile) -> None:
        signin.Care360Vault(profile.url, profile.user_id).forget()

    def link_case(self, ws: Workspace, case_id: str, server_ref: str) -> None:
        link_case(ws, case_id, server_ref)


KIND = Care360Kind()
