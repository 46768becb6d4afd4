"""A signed-in workspace against the reference server, with instant (recorded) backoff."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from desktop.sync import registry
from desktop.sync.medmitra.engine import MedMitraEngine
from desktop.sync.outbox import RetryPolicy
from desktop.sync.report import SyncReport
from desktop.workspace import Workspace
from tests import samples
from tests.signin import sign_in

PDF = samples.PDF  # a whole one-page PDF: intake checks that a file is whole


@dataclass
class Harness:
    ws: Workspace
    server: object
    tmp: Path
    sleeps: list[float] = field(default_factory=list)

    def engine(self, client: object | None = None) -> MedMitraEngine:
        return MedMitraEngine(self.ws, client or registry.open_client(self.ws),
                              policy=RetryPolicy(attempts=4), sleep=self.sleeps.append)

    def sync(self, client: object | None = None) -> SyncReport:
        engine = self.engine(client)
        try:
            return engine.run()
        finally:
            engine.client.close()

    def file(self, name: str, data: bytes = PDF) -> Path:
        path = self.tmp / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path


@pytest.fixture
def harness(reference_server, memory_keyring, tmp_path) -> Iterator[Harness]:
    with Workspace.open(tmp_path / "data") as ws:
        sign_in(ws, reference_server.url, "doctor-1", "token-doctor-1")
        yield Harness(ws, reference_server, tmp_path)
