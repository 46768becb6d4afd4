"""Remote case API clients, the sync engine, merge rules and credentials (no Qt here).

Import the submodules directly (``desktop.sync.api``, ``desktop.sync.errors``): keeping this
file empty means importing credentials does not pull in httpx or the engine.
"""
