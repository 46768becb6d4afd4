"""Signing a data folder in to the reference server, the way the command line and the window
do it: through the registry's kind."""

from __future__ import annotations

from desktop.sync import registry
from desktop.sync.kind import SignInResult
from desktop.workspace import Workspace


def sign_in(ws: Workspace, url: str, user_id: str = "doctor-1", token: str = "token-doctor-1",
            verify: bool = True) -> SignInResult:
    """A MedMitra (case server) sign-in with a doctor id and a token."""
    result = registry.kind("medmitra").begin_sign_in(ws, url, user_id, token, verify=verify)
    assert isinstance(result, SignInResult)
    return result
