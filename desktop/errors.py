"""The root of every error Case Desk shows to a person."""

from __future__ import annotations


class CaseDeskError(Exception):
    """An error whose text is fit for a user: what went wrong and what to do about it."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(CaseDeskError):
    """Input a user gave is not acceptable; nothing was changed."""


class NotFoundError(CaseDeskError):
    """The thing a user named does not exist locally. ``what`` says which kind of thing
    ("case", "document", "change", "conflict"), so each front end can say where to look."""

    def __init__(self, message: str, what: str = "") -> None:
        super().__init__(message)
        self.what = what


class DataFolderError(CaseDeskError):
    """The data folder or cache cannot be opened or used."""
