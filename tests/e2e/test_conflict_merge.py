"""Conflicts never cost clinical text: a merged value for a text field goes to the server, the
conflict says when the server wrote its side, and the side not kept stays readable."""

from __future__ import annotations

import pytest

from desktop.errors import ValidationError
from tests.e2e.test_sync_scenarios import synced_case


def conflicting_notes(h):
    case = synced_case(h)
    written = h.server.edit_case(case.server_id, case_summary="Chest X-ray clear.")
    h.ws.edit_case(case.id, case_summary="Cough for three weeks.")
    report = h.sync()
    assert report.conflicts == 1, report
    return case, written


def test_a_merged_value_goes_to_the_server_and_both_sides_stay_readable(harness):
    h = harness
    case, written = conflicting_notes(h)
    [conflict] = h.ws.conflicts()
    assert conflict.server_changed_at == written["updated_at"]  # when the server wrote it
    assert conflict.to_json()["server_changed_at"] == written["updated_at"]
    merged = "Cough for three weeks.\nChest X-ray clear."
    record = h.ws.resolve_conflict(case.id, "case_summary", "merged", merged)
    assert record.case_summary == merged and h.ws.conflicts() == []
    assert h.sync().ok
    assert h.server.case(case.server_id)["case"]["case_summary"] == merged
    assert h.ws.get_case(case.id).sync_state == "synced"
    [settled] = h.ws.settled_conflicts(case.id)
    assert (settled.resolution, settled.resolved_value) == ("merged", merged)
    assert settled.not_kept == [("mine", "Cough for three weeks."),
                                ("server", "Chest X-ray clear.")]
    assert settled.server_changed_at == written["updated_at"]


def test_the_side_not_kept_stays_with_the_case(harness):
    h = harness
    case, _written = conflicting_notes(h)
    h.ws.resolve_conflict(case.id, "case_summary", "theirs")
    [settled] = h.ws.settled_conflicts(case.id)
    assert settled.not_kept == [("mine", "Cough for three weeks.")]
    assert h.ws.get_case(case.id).case_summary == "Chest X-ray clear."


def test_a_merged_value_is_checked_and_numbers_are_not_merged(harness):
    h = harness
    case, _written = conflicting_notes(h)
    with pytest.raises(ValidationError):
        h.ws.resolve_conflict(case.id, "patient_age", "merged", "40")
    h.ws.edit_case(case.id, patient_name="Jane Smith")
    [conflict] = h.ws.conflicts()
    assert conflict.field == "case_summary"  # still open: nothing was half-resolved
