"""Remote case API clients, the sync engine, merge rules and credentials (no Qt here).

Import the submodules directly (``desktop.sync.api``, ``desktop.sync.errors``): keeping this
file empty means importing credentials does not pull in httpx or the engine.
"""

import sys

# httpx imports its own command-line client when click, rich and pygments are installed
# (~50 ms of every sync's start, more than the rest of httpx); Case Desk never runs it. A
# None entry makes that import fail at once, which httpx expects and handles.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
