"""Typed failures of talking to a case server, shaped so the sync engine can decide at once.

Every error answers three questions through plain attributes, so callers never parse text:

- ``retryable``: sending the same request again later may succeed (network, 429, 5xx).
- ``outcome_unknown``: the request may have reached the server and been applied; before a
  create or upload is sent again, the caller must look for the record (reconcile) first.
- ``action``: the resulting decision in one word (see :class:`Action`).

``str()`` is a message for a clinician: what happened and what happens next. It never holds a
token, a traceback or patient data (server ``detail`` text is passed through, since it is the
server's own explanation, but request values are never echoed).
"""

from __future__ import annotations

from enum import StrEnum

from desktop.errors import CaseDeskError


class Action(StrEnum):
    """What a sync engine should do with a failed change."""

    RETRY = "retry"  # back off (honour retry_after) and send the same request again
    RECONCILE = "reconcile"  # it may have been applied: look on the server before resending
    PARK = "park"  # permanent for this one change: show the reason, move on with the queue
    SIGN_IN = "sign_in"  # stop the run, keep the queue, ask the person to sign in again


class SyncError(CaseDeskError):
    """Base of every remote-API failure; also used directly for rare, permanent problems."""

    retryable: bool = False
    outcome_unknown: bool = False
    # False: retry in a later run only (the server used up this run's patience: an answer
    # past its deadline, a long Retry-After).
    again_in_run: bool = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        outcome_unknown: bool | None = None,
        route: str | None = None,
        again_in_run: bool | None = None,
    ) -> None:
        super().__init__(message)
        if again_in_run is not None:
            self.again_in_run = again_in_run
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.route = route
        if retryable is not None:
            self.retryable = retryable
        if outcome_unknown is not None:
            self.outcome_unknown = outcome_unknown

    @property
    def action(self) -> Action:
        if self.outcome_unknown:
            return Action.RECONCILE
        return Action.RETRY if self.retryable else Action.PARK

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, retryable={self.retryable}, "
            f"outcome_unknown={self.outcome_unknown}, route={self.route!r})"
        )


class OfflineError(SyncError):
    """No connection could be made: the request was never sent, so nothing happened."""

    retryable = True

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        super().__init__(
            message
            or "Could not reach the server. Your work is kept and will be sent when the "
            "connection is back.",
            **kwargs,  # type: ignore[arg-type]
        )


class NetworkError(SyncError):
    """The connection failed during a read-only request (GET): safe to simply ask again."""

    retryable = True

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        super().__init__(
            message
            or "The connection to the server broke while fetching data; it will be tried again.",
            **kwargs,  # type: ignore[arg-type]
        )


class OutcomeUnknownError(SyncError):
    """The request may have reached the server (timeout after sending, connection dropped
    after the body, 5xx on a create or upload). Reconcile before sending it again."""

    retryable = True
    outcome_unknown = True

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        super().__init__(
            message
            or "The server did not confirm this change; it may or may not have been saved. "
            "Case Desk checks the server before sending it again.",
            **kwargs,  # type: ignore[arg-type]
        )


class AuthError(SyncError):
    """401: the token is missing, wrong or expired. Stop and ask for sign-in; keep the queue."""

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        kwargs.setdefault("status", 401)
        super().__init__(
            message
            or "The server did not accept your sign-in (it may have expired). Please sign in "
            "again; your work is kept.",
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def action(self) -> Action:
        return Action.SIGN_IN


class RemoteNotFound(SyncError):
    """404: the case or file is not on the server (deleted, or not this doctor's)."""

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        kwargs.setdefault("status", 404)
        super().__init__(
            message or "The server does not have this case or file (it may have been deleted).",
            **kwargs,  # type: ignore[arg-type]
        )


class RejectedError(SyncError):
    """400/403/422 and other 4xx: the server refused this one change and said why. Permanent
    for that change (park it, show ``detail``); the rest of the queue goes on."""

    def __init__(
        self,
        message: str,
        *,
        field_errors: tuple[tuple[str, str], ...] = (),
        int_id_required: bool = False,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.field_errors = field_errors
        self.int_id_required = int_id_required


class ServerError(SyncError):
    """429 or 5xx: the server is busy or failing. Retry with backoff, honouring retry_after
    (seconds, parsed from Retry-After as a number or an HTTP date)."""

    retryable = True


class ServerOutcomeUnknownError(ServerError, OutcomeUnknownError):
    """429/5xx answering a create or upload: the server may have stored it before failing."""

    outcome_unknown = True


class ProtocolError(SyncError):
    """The answer was unreadable (cut off, not JSON, unexpected shape). Nothing was applied
    locally. On a create or upload ``outcome_unknown`` is set: the server may have stored it."""

    retryable = True


class NotOffered(SyncError):
    """The server kind has no way to do this at all (a files-only portal that offers no
    download of a file's bytes, say). Permanent, and nothing was sent."""


class DownloadRefused(SyncError):
    """A document's bytes from the server did not check out (more or fewer than declared, a
    type Case Desk does not take, a program): they were not kept as the server's file."""
