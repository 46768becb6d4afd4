"""A large pull shows how far it is: the case list's records counted as they arrive, then as
they are stored, out of how many there are."""

from __future__ import annotations

import pytest

from desktop.sync import pull
from desktop.sync.report import Phase, SyncProgress
from tests.e2e.conftest import Harness


def test_a_pull_reports_its_progress_through_the_listing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pull, "PROGRESS_EVERY", 10)  # 100,000 cases report every 5,000
    harness.server.seed_cases("doctor-1", 35)
    seen: list[SyncProgress] = []
    engine = harness.engine()
    try:
        report = engine.run(progress=seen.append)
    finally:
        engine.client.close()
    assert report.ok and report.pulled_new == 35
    # Counted as the records arrive (how many there are is known only at the end), then as
    # they are stored, out of the whole.
    counted = [(p.done, p.total) for p in seen if p.phase is Phase.PULL]
    assert counted == [(0, 0), (10, 0), (20, 0), (30, 0),
                       (0, 35), (10, 35), (20, 35), (30, 35)]
