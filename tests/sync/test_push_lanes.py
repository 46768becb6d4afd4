"""Which queued changes may be in flight together (lanes), and the batch's in-flight mark."""

from __future__ import annotations

from sqlalchemy import select

from desktop.models.tables import ChangeKind, PendingChange
from desktop.sync.medmitra.engine import MedMitraEngine
from desktop.sync.outbox import _lanes_of
from desktop.workspace import Workspace


def change_ids(ws: Workspace, kind: str) -> dict[str, int]:
    """case id -> change id of that kind."""
    with ws.sessions() as s:
        rows = s.execute(select(PendingChange.case_id, PendingChange.id)
                         .where(PendingChange.kind == kind)).all()
    return dict(rows)


def test_lanes_keep_a_key_in_one_lane_in_queue_order():
    keys = {1: frozenset({"a"}), 2: frozenset({"b"}), 3: frozenset({"a", "c"}),
            4: frozenset({"c"}), 5: frozenset({"d"})}
    assert _lanes_of([1, 2, 3, 4, 5], keys) == [[1, 3, 4], [2], [5]]
    assert _lanes_of([7, 8], {}) == [[7], [8]]  # gone from the queue: each alone


def test_creates_alike_in_content_share_a_lane(tmp_path, memory_keyring):
    """A lost answer is found again by content, so two alike creates are never out at once;
    spacing and letter case are no difference to a server that tidies them."""
    with Workspace.open(tmp_path / "data") as ws:
        a = ws.create_case("Ann Lee", 40, "female", "cough")
        b = ws.create_case("ann  lee", 40, "female", "Cough")
        c = ws.create_case("Ann Lee", 41, "female", "cough")
        ids = change_ids(ws, ChangeKind.CREATE_CASE)
        batch = [ids[a.id], ids[b.id], ids[c.id]]
        engine = MedMitraEngine(ws, client=None)
        keys = engine.lanes(ChangeKind.CREATE_CASE, batch)
        assert keys is not None
        assert _lanes_of(batch, keys) == [[ids[a.id], ids[b.id]], [ids[c.id]]]
        # The batch is marked in flight in one commit before any is sent ...
        with ws.sessions() as s:
            assert all(s.get(PendingChange, i).in_flight for i in batch)
        # ... and the mark is taken back from those the run then never sent.
        engine.unsent(batch)
        with ws.sessions() as s:
            assert not any(s.get(PendingChange, i).in_flight for i in batch)


def test_a_create_whose_answer_was_lost_shares_a_lane_with_what_it_sent(
        tmp_path, memory_keyring):
    """Edited since its unanswered send, a create looks for what it sent before sending its
    new values: it shares a lane with creates alike either."""
    with Workspace.open(tmp_path / "data") as ws:
        a = ws.create_case("Old Name", 30, "male")
        b = ws.create_case("Old Name", 30, "male")
        ids = change_ids(ws, ChangeKind.CREATE_CASE)
        with ws.transaction() as s:  # a's send earlier: in flight, its answer lost
            change = s.get(PendingChange, ids[a.id])
            change.in_flight = True
            change.payload = {"fields": {"patient_name": "Old Name", "patient_age": 30,
                                         "patient_gender": "male", "case_summary": None},
                              "documents": [], "sent_at": "2026-01-01T00:00:00+00:00"}
        ws.edit_case(a.id, patient_name="New Name")
        batch = [ids[a.id], ids[b.id]]
        keys = MedMitraEngine(ws, client=None).lanes(ChangeKind.CREATE_CASE, batch)
        assert keys is not None
        assert _lanes_of(batch, keys) == [batch]


def test_a_cases_own_edits_and_files_go_in_one_lane(tmp_path, memory_keyring):
    with Workspace.open(tmp_path / "data") as ws:
        a = ws.create_case("Ann Lee", 40, "female")
        b = ws.create_case("Bo Chan", 50, "male")
        ids = change_ids(ws, ChangeKind.CREATE_CASE)
        engine = MedMitraEngine(ws, client=None)
        keys = engine.lanes(ChangeKind.UPDATE_CASE, [ids[a.id], ids[b.id]])
        assert keys is not None and keys[ids[a.id]] != keys[ids[b.id]]
        assert engine.lanes(ChangeKind.DELETE_CASE, [ids[a.id]]) is None  # one at a time
