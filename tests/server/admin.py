"""`/__admin/`: test-only control of the reference server (no auth, never faulted or logged).

Records here are the server's own view (always `id`, `user_id`, `uploaded_at`), independent of
the quirk switches, so tests can assert on state without caring which dialect shape is on.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query
from pydantic import BaseModel, Field

from tests.server.faults import FaultBoard, FaultKind, FaultRule
from tests.server.medmitra import FieldNames, MedMitraQuirks, MedMitraService
from tests.server.medmitra_store import EDITABLE_CASE_FIELDS, StoredFile


class UserIn(BaseModel):
    token: str
    user_id: str


class QuirksIn(BaseModel):
    """Unset fields keep their current value."""

    field_names: FieldNames | None = None
    numeric_id: bool | None = None
    int_ids: bool | None = None
    empty_ignored: bool | None = None


class AnalysisIn(BaseModel):
    """How the server's analyses go: their outcome, and seconds per step (null: a test
    advances each step)."""

    outcome: Literal["completed", "failed"] = "completed"
    step_seconds: float | None = 0.5


class FaultIn(BaseModel):
    kind: FaultKind
    n: int | None = Field(default=1, description="matching requests to affect; null = all")
    path: str | None = None
    method: str | None = None
    status: int = 500
    retry_after: str | None = None
    after_work: bool = False
    seconds: float = 0.0


class CaseIn(BaseModel):
    user_id: str
    patient_name: str = "Test Patient"
    patient_age: int = 40
    patient_gender: str = "female"
    case_summary: str | None = None
    status: str = "pending"


class SeedIn(BaseModel):
    user_id: str
    count: int = Field(ge=0, le=1_000_000)


class FileIn(BaseModel):
    file_name: str
    data_base64: str
    file_type: str = "application/octet-stream"
    file_category: str = "lab"


def build_admin_router(
    board: FaultBoard, medmitra: MedMitraService, reset_all: Callable[[], None]
) -> APIRouter:
    """`reset_all` wipes every dialect's state, so a later dialect only extends that callback."""
    router = APIRouter(prefix="/__admin")
    store = medmitra.store

    def existing(case_id: str) -> dict[str, Any]:
        case = store.case(case_id)
        if case is None:
            raise HTTPException(404, "Case not found")
        return case

    @router.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True}

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        reset_all()
        return {"ok": True}

    @router.get("/users")
    def users() -> dict[str, Any]:
        return {"users": store.users()}

    @router.post("/users")
    def add_user(user: UserIn) -> dict[str, Any]:
        store.add_user(user.token, user.user_id)
        return {"ok": True}

    @router.get("/quirks")
    def get_quirks() -> dict[str, Any]:
        return medmitra.quirks_dict()

    @router.put("/quirks")
    def set_quirks(quirks: QuirksIn) -> dict[str, Any]:
        current = medmitra.quirks
        medmitra.quirks = MedMitraQuirks(
            field_names=quirks.field_names or current.field_names,
            numeric_id=current.numeric_id if quirks.numeric_id is None else quirks.numeric_id,
            int_ids=current.int_ids if quirks.int_ids is None else quirks.int_ids,
            empty_ignored=(current.empty_ignored if quirks.empty_ignored is None
                           else quirks.empty_ignored),
        )
        return medmitra.quirks_dict()

    @router.get("/faults")
    def faults() -> dict[str, Any]:
        return {"faults": board.rules_snapshot()}

    @router.post("/faults")
    def add_fault(fault: FaultIn) -> dict[str, Any]:
        rule = board.add(
            FaultRule(
                kind=fault.kind,
                remaining=fault.n,
                path=fault.path,
                method=fault.method,
                status=fault.status,
                retry_after=fault.retry_after,
                after_work=fault.after_work,
                seconds=fault.seconds,
            )
        )
        return {"id": rule.id}

    @router.get("/faults/{rule_id}/held")
    def held(rule_id: int) -> dict[str, Any]:
        rule = board.holds.get(rule_id)
        if rule is None:
            raise HTTPException(404, "No such hold")
        return {"held": rule.held, "released": rule.released}

    @router.post("/faults/{rule_id}/release")
    def release(rule_id: int) -> dict[str, Any]:
        if board.release(rule_id) is None:
            raise HTTPException(404, "No such hold")
        return {"ok": True}

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        board.clear_rules()
        return {"ok": True}

    @router.get("/requests")
    def requests() -> dict[str, Any]:
        return {"requests": board.snapshot()}

    @router.delete("/requests")
    def clear_requests() -> dict[str, Any]:
        board.clear_log()
        return {"ok": True}

    @router.get("/cases")
    def cases(user_id: Annotated[str | None, Query()] = None) -> dict[str, Any]:
        return {"cases": store.cases(user_id)}

    @router.post("/cases", status_code=201)
    def create_case(case: CaseIn) -> dict[str, Any]:
        return {
            "case": store.create_case(
                case.user_id,
                case.patient_name,
                case.patient_age,
                case.patient_gender,
                case.case_summary,
                case.status,
            )
        }

    @router.post("/cases/seed", status_code=201)
    def seed(seed: SeedIn) -> dict[str, Any]:
        return {"case_ids": store.seed_cases(seed.user_id, seed.count)}

    @router.get("/cases/{case_id}")
    def case(case_id: str) -> dict[str, Any]:
        row = existing(case_id)
        return {
            "case": row,
            "files": store.files(case_id),
            "ai_insights": store.insights(case_id),
        }

    @router.patch("/cases/{case_id}")
    def edit_case(case_id: str, fields: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        unknown = set(fields) - EDITABLE_CASE_FIELDS
        if unknown:
            raise HTTPException(400, f"Not editable: {sorted(unknown)}")
        updated = store.update_case(case_id, fields)
        if updated is None:
            raise HTTPException(404, "Case not found")
        return {"case": updated}

    @router.delete("/cases/{case_id}")
    def delete_case(case_id: str) -> dict[str, Any]:
        if not store.delete_case(case_id):
            raise HTTPException(404, "Case not found")
        return {"ok": True}

    @router.put("/analysis")
    def set_analysis(plan: AnalysisIn) -> dict[str, Any]:
        medmitra.analyses.outcome, medmitra.analyses.step_seconds = plan.outcome, plan.step_seconds
        return {"ok": True}

    @router.post("/cases/{case_id}/analysis/advance")
    def advance_analysis(case_id: str) -> dict[str, Any]:
        updated = medmitra.analyses.advance(case_id)
        if updated is None:
            raise HTTPException(404, "No analysis runs for this case")
        return {"case": updated}

    @router.put("/cases/{case_id}/insights")
    def set_insights(
        case_id: str, insights: Annotated[dict[str, Any] | None, Body()] = None
    ) -> dict[str, Any]:
        if not store.set_insights(case_id, insights):
            raise HTTPException(404, "Case not found")
        return {"ok": True}

    @router.get("/cases/{case_id}/files")
    def files(case_id: str) -> dict[str, Any]:
        existing(case_id)
        return {"files": store.files(case_id)}

    @router.post("/cases/{case_id}/files", status_code=201)
    def add_file(case_id: str, file: FileIn) -> dict[str, Any]:
        existing(case_id)
        try:
            data = base64.b64decode(file.data_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HTTPException(400, "data_base64 is not valid base64") from exc
        file_id = str(uuid.uuid4())
        store.blob_path(file_id).write_bytes(data)
        stored = StoredFile(file_id, file.file_name, file.file_type, len(data), file.file_category)
        [row] = store.add_files(case_id, [stored])
        return {"file": row}

    @router.delete("/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        if not store.delete_file(file_id):
            raise HTTPException(404, "File not found")
        return {"ok": True}

    return router
