"""Assembles the reference server: dialect routers, admin API and the fault layer.

A second dialect (Care360) plugs in the same way MedMitra does: its own store/service module,
its own router factory, a field on `ServerState`, and a line in `create_app`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.server.admin import build_admin_router
from tests.server.care360 import (
    Care360Service,
    build_care360_admin_router,
    build_care360_router,
    install_care360_handlers,
)
from tests.server.care360_store import Care360Store
from tests.server.faults import FaultBoard, FaultMiddleware
from tests.server.hostile import HostileBoard, HostileMiddleware, build_hostile_router
from tests.server.medmitra import (
    MedMitraService,
    build_medmitra_router,
    install_medmitra_handlers,
)
from tests.server.medmitra_store import MedMitraStore


@dataclass
class ServerState:
    """Everything one server process holds; reachable as `app.state.server`."""

    data_dir: Path
    board: FaultBoard
    medmitra: MedMitraService
    care360: Care360Service

    def reset(self) -> None:
        """Back to a fresh server: no data, no faults, quirks off, default users."""
        self.board.reset()
        self.medmitra.reset()
        self.care360.reset()

    def close(self) -> None:
        self.medmitra.store.close()
        self.care360.store.close()


def create_app(data_dir: Path | str) -> FastAPI:
    """A fresh app whose persistent state (SQLite + file bytes) lives under `data_dir`."""
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    state = ServerState(
        data_dir=folder,
        board=FaultBoard(),
        medmitra=MedMitraService(MedMitraStore(folder / "medmitra")),
        care360=Care360Service(Care360Store(folder / "care360")),
    )
    app = FastAPI(title="Case Desk reference server", docs_url=None, redoc_url=None)
    app.state.server = state
    app.include_router(build_admin_router(state.board, state.medmitra, state.reset))
    app.include_router(build_medmitra_router(state.medmitra))
    install_medmitra_handlers(app)
    app.include_router(build_care360_admin_router(state.care360))
    app.include_router(build_care360_router(state.care360))
    install_care360_handlers(app)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=500, content={"detail": f"Internal server error: {exc}"})

    app.add_exception_handler(Exception, on_unexpected)
    hostile = HostileBoard()
    app.include_router(build_hostile_router(hostile))
    app.add_middleware(HostileMiddleware, board=hostile)  # inside the fault layer
    # Outermost user middleware: it must receive uvicorn's own `receive` to drop connections.
    app.add_middleware(FaultMiddleware, board=state.board)
    return app
