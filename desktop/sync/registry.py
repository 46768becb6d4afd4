"""The server kinds Case Desk speaks: the one module that names them all.

The command line, the window, the runner and the self-test ask here for a kind, a client or
an engine; nothing else compares kind names. Adding a kind is a package of its own under
``desktop/sync/`` exporting ``KIND``, and one line in ``PACKAGES``.

A kind's package is imported when first asked for, so the command line can list the names
without loading any HTTP client (~0.1 s of every command).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from desktop.errors import ValidationError

if TYPE_CHECKING:
    from desktop.sync.kind import ServerKind
    from desktop.sync.outbox import OutboxEngine
    from desktop.sync.profile import ServerProfile
    from desktop.workspace import Workspace

# name (stored in a profile) -> the package that speaks it
PACKAGES = {
    "medmitra": "desktop.sync.medmitra",
    "care360": "desktop.sync.care360",
}
# A profile saved without a kind (older folders) is a case server's.
DEFAULT = "medmitra"


def names() -> tuple[str, ...]:
    return tuple(PACKAGES)


def kind(name: str | None) -> ServerKind:
    package = PACKAGES.get(name or DEFAULT)
    if package is None:
        raise ValidationError(
            f"Unknown server kind {name!r}: choose one of {', '.join(names())}.")
    found: ServerKind = importlib.import_module(package).KIND
    return found


def kinds() -> tuple[ServerKind, ...]:
    return tuple(kind(name) for name in PACKAGES)


def kind_of(profile: ServerProfile) -> ServerKind:
    return kind(profile.kind)


def configured(ws: Workspace) -> tuple[ServerProfile, ServerKind]:
    """The folder's profile and its kind; NotConfiguredError when no server is set up."""
    from desktop.sync.profile import NotConfiguredError, current_server

    profile = current_server(ws)
    if profile is None:
        raise NotConfiguredError()
    return profile, kind_of(profile)


def linking_kind(ws: Workspace) -> ServerKind:
    """The kind a case is linked for by hand: the profile's, or before any sign-in the kind
    that links cases (a portal whose case ids are given, not made by sending a case)."""
    from desktop.sync.profile import current_server

    profile = current_server(ws)
    if profile is not None:
        return kind_of(profile)
    linking = [k for k in kinds() if k.links_cases]
    return linking[0] if len(linking) == 1 else kind(DEFAULT)


def open_client(ws: Workspace) -> Any:
    profile, server_kind = configured(ws)
    return server_kind.open_client(profile)


def engine_for(ws: Workspace, client: Any, **options: Any) -> OutboxEngine:
    """The engine that speaks the folder's server kind, on ``client``."""
    _profile, server_kind = configured(ws)
    return server_kind.engine(ws, client, **options)


def sign_out(ws: Workspace) -> ServerProfile | None:
    """Forget the profile's secrets; queued work stays and syncs after the next sign-in."""
    from desktop.models.audit import Action
    from desktop.sync import credentials
    from desktop.sync.profile import current_server

    profile = current_server(ws)
    if profile is not None:
        kind_of(profile).forget(profile)
        if ws.read_only is None:
            ws.record_event(Action.SIGN_OUT)
    credentials.forget_session()
    return profile
