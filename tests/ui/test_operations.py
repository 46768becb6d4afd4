"""The operation runner: results and progress come back to the GUI thread."""

from __future__ import annotations

import threading
from typing import Any

from desktop.ui.operations import OperationRunner


def test_progress_is_a_mailbox_and_the_last_payload_arrives_before_the_result(qtbot) -> None:
    """A worker reporting 5,000 times while the GUI thread is busy queues one delivery, not
    5,000: the event loop would run every queued delivery before its next timer or paint."""
    runner = OperationRunner()
    reported = threading.Event()
    seen: list[Any] = []
    order: list[str] = []

    def work(report: Any) -> str:
        for n in range(5000):
            report(n)
        reported.set()
        return "done"

    runner.run_with_progress(
        work,
        progress=lambda n: (seen.append(n), order.append("progress")),
        success=lambda result: order.append(result),
    )
    assert reported.wait(10)  # every report made while the GUI thread did nothing
    qtbot.waitUntil(lambda: "done" in order, timeout=10000)
    assert seen[-1] == 4999
    assert len(seen) <= 3  # the first (maybe already queued) and the newest
    assert seen == sorted(seen)
    assert order[-1] == "done" and order[-2] == "progress"
    runner.shutdown()


def test_results_and_errors_reach_their_callbacks(qtbot) -> None:
    runner = OperationRunner()
    got: list[Any] = []
    runner.run(lambda: 41 + 1, success=got.append)

    def fail() -> None:
        raise ValueError("boom")

    runner.run(fail, failure=got.append, lane="read")
    qtbot.waitUntil(lambda: len(got) == 2, timeout=10000)
    assert 42 in got
    assert any(isinstance(g, ValueError) for g in got)
    runner.shutdown()
