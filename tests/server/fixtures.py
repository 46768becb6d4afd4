"""pytest fixtures for the reference server (registered in tests/conftest.py).

One subprocess per test session (starting uvicorn costs about a second); every test gets it
wiped clean through `reset()`, so tests never see each other's cases, faults or quirks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.control import ReferenceServer


@pytest.fixture(scope="session")
def _reference_server_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReferenceServer]:
    """The shared server subprocess, killed at session end."""
    server = ReferenceServer.start_process(tmp_path_factory.mktemp("reference-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def reference_server(
    _reference_server_process: ReferenceServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReferenceServer]:
    """A freshly reset server: default users only, no cases, no faults, quirks off."""
    server = _reference_server_process
    if not server.is_alive():  # a previous test crashed it: start a new one in place
        fresh = ReferenceServer.start_process(tmp_path_factory.mktemp("reference-server"))
        server.__dict__.update(fresh.__dict__)
    server.reset()
    yield server
