"""Case and document ids: random version-4 UUIDs, with the randomness read in batches."""

from __future__ import annotations

import os
import uuid

import pytest

from desktop.models import tables
from desktop.models.tables import new_id


def test_ids_are_unique_version_4_uuids() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_one_random_read_serves_a_batch_of_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each os.urandom call releases the GIL; one per id starved the window's thread.
    calls: list[int] = []
    real = os.urandom

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(os, "urandom", counting)
    source = tables._IdSource()
    ids = [source() for _ in range(source.BATCH * 3)]
    assert len(calls) == 3
    assert len(set(ids)) == len(ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_forked_child_does_not_reuse_the_parents_randomness() -> None:
    new_id()  # the parent now holds a batch a child would inherit
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert uuid.UUID(child).version == 4
    upcoming = list(tables.new_id.ids)  # what the parent's batch still holds
    assert child not in upcoming
