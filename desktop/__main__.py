"""`python -m desktop` and the `casedesk` console script."""

from __future__ import annotations

import sys

SELF_TEST_FLAGS = ("--self-test", "--self-test-server")


def main() -> int:
    argv = sys.argv[1:]
    if any(arg.split("=", 1)[0] in SELF_TEST_FLAGS for arg in argv):
        # The self-test belongs to the app shell (it renders previews with Qt), so it is
        # dispatched here rather than in the Qt-free CLI.
        from desktop.selftest import main as selftest_main

        return selftest_main(argv)
    from desktop.cli import main as cli_main

    return cli_main(argv, gui=open_window)


def open_window(data_dir: str | None, profile: str | None) -> int:
    """`casedesk` with no command: the window (imported only then, so the CLI starts fast)."""
    from desktop.ui.app import run

    return run(data_dir=data_dir, profile=profile)


if __name__ == "__main__":
    sys.exit(main())
