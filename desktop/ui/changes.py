"""What an operation changed, so that every view showing it can refresh itself.

The pattern is Anki's ``OpChanges`` and ``operation_did_execute``: an operation that writes
(a save, an attach, a sync) reports what it touched; the task lanes announce it once on
``OperationRunner.changed`` after the operation's own success callback; each view listens and
re-reads only what it shows. Nobody calls another view's refresh by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desktop.workspace import CaseRecord

Everything = None  # in a field below: any case may have changed


@dataclass(frozen=True)
class Changes:
    cases: frozenset[str] | None = frozenset()  # cases whose fields or sync state changed
    case_list: bool = False  # the list's members or order may have changed
    documents: frozenset[str] | None = frozenset()  # cases whose documents changed
    outbox: bool = False  # what waits for the server, or the open conflicts, changed
    local: bool = False  # written on this computer: to be sent soon
    record: CaseRecord | None = None  # the changed case as it is now, to show at once

    @classmethod
    def everything(cls) -> Changes:
        """After a sync: any case, list row, document or count may differ."""
        return cls(cases=Everything, case_list=True, documents=Everything, outbox=True)

    @classmethod
    def case_written(cls, record: CaseRecord) -> Changes:
        """A case saved, created or archived here."""
        return cls(cases=frozenset({record.id}), case_list=True, outbox=True, local=True,
                   record=record)

    def touches_case(self, case_id: str | None) -> bool:
        return case_id is not None and (self.cases is Everything or case_id in self.cases)

    def touches_documents(self, case_id: str | None) -> bool:
        return case_id is not None and (
            self.documents is Everything or case_id in self.documents)

    @property
    def any_case(self) -> bool:
        return self.cases is Everything or bool(self.cases)


def changes_of(result: Any, changes: Changes | Any) -> Changes:
    """``changes`` as given, or computed from the operation's result."""
    return changes(result) if callable(changes) else changes
