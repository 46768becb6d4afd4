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


def test_a_lost_create_matches_only_a_case_created_after_it_was_sent():
    from desktop.sync.reconcile import matches_sent
    from desktop.sync.records import RemoteCase

    fields = {"patient_name": "Jane", "patient_age": 32, "patient_gender": "female",
              "case_summary": None}
    payload = {"fields": fields, "sent_at": "2026-11-21T10:00:00+00:00"}

    def remote(created: str, **over: object) -> RemoteCase:
        values = fields | over
        return RemoteCase("s1", None, "d", values["patient_name"], values["patient_age"],
                          values["patient_gender"], values["case_summary"], "pending",
                          created, created)

    assert matches_sent(remote("2026-11-21T10:00:02+00:00"), payload)
    assert matches_sent(remote("2026-11-21T09:55:00Z"), payload)  # clock slack
    assert not matches_sent(remote("2026-11-20T10:00:00+00:00"), payload)  # an old look-alike
    assert not matches_sent(remote("2026-11-21T10:00:02+00:00", patient_age=33), payload)
    assert matches_sent(remote("2026-11-21T10:00:02+00:00", case_summary=""), payload)
