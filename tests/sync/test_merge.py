"""Three-way merge rules, field by field."""

from __future__ import annotations

from desktop.sync.merge import merge_case

FIELDS = ("patient_name", "patient_age", "case_summary", "status")
BASE = {"patient_name": "Jane", "patient_age": 32, "case_summary": "a", "status": "pending"}


def test_server_only_change_is_taken():
    r = merge_case(BASE, BASE, BASE | {"case_summary": "b"}, FIELDS)
    assert r.take == {"case_summary": "b"} and not r.conflicts
    assert r.new_base["case_summary"] == "b"


def test_local_only_change_is_kept():
    r = merge_case(BASE, BASE | {"status": "completed"}, BASE, FIELDS)
    assert r.take == {} and r.keep == ["status"] and not r.conflicts
    assert r.new_base["status"] == "pending"


def test_both_changed_differently_is_a_conflict_never_an_overwrite():
    r = merge_case(BASE, BASE | {"case_summary": "mine"}, BASE | {"case_summary": "theirs"}, FIELDS)
    assert r.take == {}
    [c] = r.conflicts
    assert (c.field, c.base, c.mine, c.theirs) == ("case_summary", "a", "mine", "theirs")
    assert r.new_base["case_summary"] == "a"


def test_both_changed_to_same_value_settles():
    r = merge_case(BASE, BASE | {"patient_age": 33}, BASE | {"patient_age": 33}, FIELDS)
    assert r.settled.count("patient_age") == 1 and not r.conflicts and not r.take


def test_different_fields_merge():
    r = merge_case(BASE, BASE | {"status": "completed"}, BASE | {"case_summary": "b"}, FIELDS)
    assert r.take == {"case_summary": "b"} and r.keep == ["status"] and not r.conflicts


def test_empty_and_none_notes_are_equal():
    r = merge_case(BASE | {"case_summary": None}, BASE | {"case_summary": None},
                   BASE | {"case_summary": ""}, FIELDS)
    assert not r.take and not r.conflicts


def test_no_base_and_different_values_is_a_conflict():
    r = merge_case(None, BASE, BASE | {"case_summary": "x"}, FIELDS)
    assert [c.field for c in r.conflicts] == ["case_summary"]
