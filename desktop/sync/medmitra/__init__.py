"""MedMitra case servers (dialect 1): cases with fields, files and AI insights.

The package holds everything that depends on how MedMitra speaks: the client and its record
parsing, sign-in with a doctor id and a token, and the engine's push, pull and file steps.
"""

from __future__ import annotations

from typing import Any

import httpx

from desktop.sync.kind import Account, Secret, ServerKind, SignInResult, SignInShape
from desktop.sync.medmitra import signin
from desktop.sync.medmitra.client import MedMitraClient
from desktop.sync.medmitra.engine import MedMitraEngine
from desktop.sync.profile import ServerProfile
from desktop.workspace import Workspace


class MedMitraKind(ServerKind):
    name = "medmitra"
    title = "MedMitra case server"
    short_title = "MedMitra"
    sign_in = SignInShape(Account.DOCTOR_ID, Secret.TOKEN, one_time_code=False)

    def begin_sign_in(
        self, ws: Workspace, url: str, account: str, secret: str, *, verify: bool = True,
        transport: httpx.BaseTransport | None = None, allow_plain_http: bool = False,
    ) -> SignInResult:
        return signin.sign_in(ws, self.name, url, account, secret, verify=verify,
                              transport=transport, allow_plain_http=allow_plain_http)

    def open_client(
        self, profile: ServerProfile, transport: httpx.BaseTransport | None = None
    ) -> MedMitraClient:
        return signin.open_client(profile, transport)

    def engine(self, ws: Workspace, client: Any, **options: Any) -> MedMitraEngine:
        return MedMitraEngine(ws, client, **options)

    def forget(self, profile: ServerProfile) -> None:
        signin.forget(profile)


KIND = MedMitraKind()
