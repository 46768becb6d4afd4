"""`python -m desktop --self-test` from the source tree: every step reports ok and it exits 0.

The packaged bundle runs the same self-test in .ci/dist-check; building it here would be far
too slow for the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_STEPS = [
    "migrate cache",
    "create case",
    "edit case",
    "take in PDF",
    "take in PNG",
    "take in DICOM",
    "take in JPEG DICOM",
    "preview PDF",
    "preview PNG",
    "preview DICOM",
    "preview JPEG DICOM",
    "view and search PDF",
    "encrypted cache",
    "lock the window",
    "key helper",
]
SYNC_STEPS = ["sign in", "sync", "pull into a second cache"]
OK_LINE = re.compile(r"^ok   (?P<step>.+) \(\d+\.\d\d s\)$")


def run_self_test(tmp_path: Path, *extra: str, env: dict[str, str] | None = None
                  ) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.update(env or {})
    # The self-test must not depend on, or write to, the user's data folder or display.
    environment["CASEDESK_DATA_DIR"] = str(tmp_path / "must-not-be-used")
    environment["HOME"] = str(tmp_path / "home")
    environment.pop("DISPLAY", None)
    environment["QT_QPA_PLATFORM"] = "xcb"  # the self-test forces offscreen itself
    return subprocess.run(
        [sys.executable, "-m", "desktop", "--self-test", *extra],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def ok_steps(stdout: str) -> list[str]:
    return [m["step"] for line in stdout.splitlines() if (m := OK_LINE.match(line))]


@pytest.mark.slow
def test_self_test_passes_offline(tmp_path: Path) -> None:
    result = run_self_test(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert ok_steps(result.stdout) == LOCAL_STEPS
    assert not [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert f"self-test passed: {len(LOCAL_STEPS)} steps" in result.stdout
    assert "sync not tested" in result.stdout
    assert not (tmp_path / "must-not-be-used").exists()


@pytest.mark.slow
def test_self_test_syncs_with_the_reference_server(tmp_path: Path, reference_server) -> None:
    result = run_self_test(
        tmp_path,
        "--self-test-server",
        reference_server.url,
        env={"CASEDESK_SELFTEST_TOKEN": "token-doctor-1"},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert ok_steps(result.stdout) == LOCAL_STEPS + SYNC_STEPS
    assert f"self-test passed: {len(LOCAL_STEPS) + 3} steps" in result.stdout


@pytest.mark.slow
def test_self_test_fails_with_a_line_per_step_when_the_server_is_unreachable(
    tmp_path: Path,
) -> None:
    result = run_self_test(tmp_path, "--self-test-server", "http://127.0.0.1:9")

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert ok_steps(result.stdout) == LOCAL_STEPS
    assert any(line.startswith("FAIL sign in: ") for line in lines)
    assert "FAIL sync: not run, needs 'sign in'" in lines
    assert f"self-test FAILED: 3 of {len(LOCAL_STEPS) + 3} steps" in result.stdout


def test_self_test_server_alone_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "--self-test-server", "http://127.0.0.1:9"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )

    assert result.returncode == 2
    assert "--self-test-server needs --self-test" in result.stderr
