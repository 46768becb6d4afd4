"""What a sync's start imports: httpx's own command line (click, rich, pygments) is never
loaded by Case Desk, where a development install has them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_sync_client_does_not_load_httpx_command_line():
    probe = ("import sys, importlib.util\n"
             "import desktop.sync.medmitra.client\n"
             "import httpx\n"
             "assert callable(httpx.main)\n"  # httpx's stand-in says what to install
             "print(','.join(m for m in ('rich', 'click', 'pygments') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.strip() == ""
