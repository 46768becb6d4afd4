"""Dialect 1: the MedMitra case API (docs/API.md), with switchable quirks of the deployed backend.

Routes answer exactly as FastAPI would (`{"detail": ...}`, 422 lists) because the real backend
is a FastAPI service; the quirks reproduce what the deployed instance does differently from
its own documentation.
"""

# No `from __future__ import annotations`: FastAPI must resolve route annotations that name
# closure-local aliases (`User`), which only works with evaluated annotations.

import mimetypes
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict

from tests.server.analysis import Analyses
from tests.server.medmitra_store import CASE_COLUMNS, MedMitraStore, StoredFile

COPY_CHUNK = 1024 * 1024
CASE_FIELDS = tuple(c for c in CASE_COLUMNS if c != "id")  # the numeric id is a quirk
RADIOLOGY_TYPES = frozenset({"application/dicom", "image/dicom"})

FieldNames = Literal["documented", "deployed"]


@dataclass
class MedMitraQuirks:
    """Off by default: the documented contract. Each switch mimics the deployed backend."""

    field_names: FieldNames = "documented"
    numeric_id: bool = False
    int_ids: bool = False
    # A backend that tests fields with `if value:` drops an empty string the way the
    # documented one drops a null: the field keeps its value (and the echo shows it).
    empty_ignored: bool = False


@dataclass
class MedMitraService:
    """What the routes and the admin API share for this dialect."""

    store: MedMitraStore
    quirks: MedMitraQuirks = field(default_factory=MedMitraQuirks)
    analyses: Analyses = field(init=False)

    def __post_init__(self) -> None:
        self.analyses = Analyses(self.store)

    def reset(self) -> None:
        self.analyses.reset()
        self.store.reset()
        self.quirks = MedMitraQuirks()

    def quirks_dict(self) -> dict[str, Any]:
        return asdict(self.quirks)

    # -- wire shapes --------------------------------------------------------------------------

    def render_case(self, row: dict[str, Any]) -> dict[str, Any]:
        out = {name: row[name] for name in CASE_FIELDS}
        if self.quirks.field_names == "deployed":
            out = {("doctor_id" if k == "user_id" else k): v for k, v in out.items()}
        if self.quirks.numeric_id:
            out = {"id": row["id"], **out}
        return out

    def render_file(self, row: dict[str, Any], with_category: bool = True) -> dict[str, Any]:
        out = dict(row)
        if not with_category:
            out.pop("file_category", None)
        if self.quirks.field_names == "deployed":
            out = {("upload_date" if k == "uploaded_at" else k): v for k, v in out.items()}
        return out


class AnalysisRequest(BaseModel):
    """The deployed route's optional body: results complete an analysis; none starts one."""

    analysis_results: str | None = None


class CaseUpdate(BaseModel):
    """PUT body: every field optional, nulls ignored (API.md), an empty string applied as the
    empty value, anything else (gender) silently dropped."""

    model_config = ConfigDict(extra="ignore")

    patient_name: str | None = None
    patient_age: int | None = None
    case_summary: str | None = None
    status: str | None = None


def int_parsing_error(location: str, name: str, value: Any) -> JSONResponse:
    """The deployed backend's answer to a UUID on a route that declares `case_id: int`."""
    return JSONResponse(
        status_code=422,
        content={
            "detail": [
                {
                    "type": "int_parsing",
                    "loc": [location, name],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": value,
                }
            ]
        },
    )


class IntIdRejected(Exception):
    """Raised inside a route so the 422 body can be answered from one place."""

    def __init__(self, location: str, value: str) -> None:
        super().__init__(value)
        self.location = location
        self.value = value


def _category_for(file_type: str, file_name: str) -> str:
    if file_type.startswith("image/") or file_type in RADIOLOGY_TYPES:
        return "radiology"
    return "radiology" if file_name.lower().endswith(".dcm") else "lab"


def _copy_to(source: BinaryIO, destination: Path) -> int:
    """Chunked copy: a 1 GiB upload must never sit in memory at once."""
    source.seek(0)
    size = 0
    with open(destination, "wb") as out:
        while chunk := source.read(COPY_CHUNK):
            out.write(chunk)
            size += len(chunk)
    return size


def build_medmitra_router(service: MedMitraService) -> APIRouter:
    """All dialect-1 routes plus the byte server behind each file's relative `file_url`."""
    router = APIRouter()
    store = service.store

    def current_user(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        user_id = store.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user_id is None:
            raise HTTPException(
                401, "Invalid or expired token", headers={"WWW-Authenticate": "Bearer"}
            )
        return user_id

    User = Annotated[str, Depends(current_user)]

    def int_id(raw_id: str, location: str) -> int | None:
        """With `int_ids` on, the route declares `case_id: int` (FastAPI parses before the body)."""
        if not service.quirks.int_ids:
            return None
        try:
            return int(raw_id.strip())
        except ValueError:
            raise IntIdRejected(location, raw_id) from None

    def owned_case(raw_id: str, caller: str, *, int_route: bool, location: str) -> dict[str, Any]:
        """Find a caller's case; another doctor's case is indistinguishable from a missing one."""
        row_id = int_id(raw_id, location) if int_route else None
        case = store.case(raw_id) if row_id is None else store.case_by_row_id(row_id)
        if case is None or case["user_id"] != caller:
            raise HTTPException(404, "Case not found")
        return case

    async def store_upload(upload: UploadFile, category: str | None) -> StoredFile:
        file_id = store.new_file_id()
        name = upload.filename or "upload"
        file_type = upload.content_type or ""
        if not file_type or file_type == "application/octet-stream":
            file_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        size = await run_in_threadpool(_copy_to, upload.file, store.blob_path(file_id))
        return StoredFile(
            file_id=file_id,
            file_name=name,
            file_type=file_type,
            file_size=size,
            file_category=category or _category_for(file_type, name),
        )

    @router.get("/cases/all_cases")
    def all_cases(user_id: Annotated[str, Query()], caller: User) -> dict[str, Any]:
        if user_id != caller:
            raise HTTPException(403, "Not allowed to list another user's cases")
        return {"cases": [service.render_case(row) for row in store.cases(caller)]}

    @router.get("/cases/cases/{case_id}")
    def get_case(case_id: str, caller: User) -> dict[str, Any]:
        case = owned_case(case_id, caller, int_route=False, location="path")
        body: dict[str, Any] = {
            "case": service.render_case(case),
            "files": [service.render_file(f) for f in store.files(case["case_id"])],
        }
        insights = store.insights(case["case_id"])
        if insights is not None:
            body["ai_insights"] = insights
        return body

    @router.post("/cases/create_case", status_code=201)
    async def create_case(
        caller: User,
        user_id: Annotated[str, Form()],
        patient_name: Annotated[str, Form()],
        patient_age: Annotated[int, Form()],
        patient_gender: Annotated[str, Form()],
        case_summary: Annotated[str | None, Form()] = None,
        lab_files: Annotated[list[UploadFile] | None, File()] = None,
        radiology_files: Annotated[list[UploadFile] | None, File()] = None,
    ) -> dict[str, Any]:
        if user_id != caller:
            raise HTTPException(403, "user_id does not match the authenticated user")
        stored: list[StoredFile] = []
        for category, uploads in (("lab", lab_files), ("radiology", radiology_files)):
            for upload in uploads or []:
                if not upload.filename:
                    continue  # an empty file input in a browser form
                stored.append(await store_upload(upload, category))
        case = store.create_case(caller, patient_name, patient_age, patient_gender, case_summary)
        files = store.add_files(case["case_id"], stored)
        return {
            "message": "Case created successfully",
            "case": service.render_case(case),
            "uploaded_files": [service.render_file(f) for f in files],
        }

    @router.put("/cases/cases/{case_id}")
    def update_case(
        case_id: str, caller: User, update: CaseUpdate | None = None
    ) -> dict[str, Any]:
        int_id(case_id, "path")
        changes = {} if update is None else update.model_dump(exclude_none=True)
        if service.quirks.empty_ignored:
            changes = {k: v for k, v in changes.items() if v != ""}
        if not changes:
            raise HTTPException(400, "No data provided for update")
        case = owned_case(case_id, caller, int_route=True, location="path")
        updated = store.update_case(case["case_id"], changes)
        if updated is None:
            raise HTTPException(404, "Case not found")
        return {"message": "Case updated successfully", "case": service.render_case(updated)}

    @router.post("/cases/upload", status_code=201)
    async def upload_file(
        caller: User,
        case_id: Annotated[str, Form()],
        file: Annotated[UploadFile, File()],
    ) -> dict[str, Any]:
        case = owned_case(case_id, caller, int_route=True, location="body")
        stored = await store_upload(file, None)
        if store.case(case["case_id"]) is None:  # deleted while the bytes were arriving
            store.blob_path(stored.file_id).unlink(missing_ok=True)
            raise HTTPException(404, "Case not found")
        [row] = store.add_files(case["case_id"], [stored])
        return {
            "message": "File uploaded successfully",
            "file": service.render_file(row, with_category=False),
        }

    @router.get("/cases/files/{case_id}")
    def case_files(case_id: str, caller: User) -> dict[str, Any]:
        case = owned_case(case_id, caller, int_route=True, location="path")
        return {"files": [service.render_file(f) for f in store.files(case["case_id"])]}

    @router.get("/cases/file/{file_id}")
    def get_file(file_id: str, caller: User) -> dict[str, Any]:
        row = store.file(file_id)
        case = None if row is None else store.case(row["case_id"])
        if row is None or case is None or case["user_id"] != caller:
            raise HTTPException(404, "File not found")
        return {"file": service.render_file(row)}

    @router.delete("/cases/file/{file_id}")
    def delete_file(
        file_id: str, case_id: Annotated[str, Query()], caller: User
    ) -> dict[str, Any]:
        # The deployed route declares `case_id: int` (a query parameter) like the others.
        case = owned_case(case_id, caller, int_route=True, location="query")
        row = store.file(file_id)
        if row is None or row["case_id"] != case["case_id"]:
            raise HTTPException(404, "File not found")
        store.delete_file(file_id)
        return {"message": "File deleted successfully"}

    @router.delete("/cases/cases/{case_id}")
    def delete_case(case_id: str, caller: User) -> dict[str, Any]:
        case = owned_case(case_id, caller, int_route=True, location="path")
        store.delete_case(case["case_id"])
        return {"message": "Case deleted successfully"}

    @router.post("/cases/analyze/{case_id}")
    def analyze_case(
        case_id: str, caller: User, analysis: AnalysisRequest | None = None
    ) -> dict[str, Any]:
        case = owned_case(case_id, caller, int_route=True, location="path")
        results = analysis.analysis_results if analysis is not None else None
        updated = service.analyses.start(case["case_id"], results)
        if updated is None:  # deleted while it started
            raise HTTPException(404, "Case not found")
        message = ("Case analysis completed successfully" if results
                   else "Case analysis started successfully")
        return {"message": message, "case": service.render_case(updated)}

    @router.get("/files/{file_id}/{file_name:path}")
    def file_bytes(file_id: str, file_name: str) -> FileResponse:
        """Like a public storage URL: no token needed, the unguessable id is the secret."""
        row = store.file(file_id)
        path = store.blob_path(file_id)
        if row is None or not path.exists():
            raise HTTPException(404, "Not Found")
        return FileResponse(path, media_type=row["file_type"])

    return router


def install_medmitra_handlers(app: Any) -> None:
    """The int-id 422 must look exactly like FastAPI's own validation answer."""

    async def on_int_id(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IntIdRejected)
        return int_parsing_error(exc.location, "case_id", exc.value)

    app.add_exception_handler(IntIdRejected, on_int_id)


__all__ = [
    "MedMitraQuirks",
    "MedMitraService",
    "build_medmitra_router",
    "install_medmitra_handlers",
]
