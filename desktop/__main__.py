"""`python -m desktop` and the `casedesk` console script."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from desktop.key_prefetch import KeyPrefetch

SELF_TEST_FLAGS = ("--self-test", "--self-test-server")
KEY_HELPER_FLAG = "--fetch-folder-key"  # key_prefetch.FLAG, without importing it first


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == [KEY_HELPER_FLAG]:  # the window's key helper (desktop.key_prefetch)
        from desktop.key_prefetch import helper_main

        return helper_main(argv[1:])
    if any(arg.split("=", 1)[0] in SELF_TEST_FLAGS for arg in argv):
        # The self-test belongs to the app shell (it renders previews with Qt), so it is
        # dispatched here rather than in the Qt-free CLI.
        from desktop.selftest import main as selftest_main

        return selftest_main(argv)
    window = window_options(argv)
    if window is not None:
        return start_window(*window)
    from desktop.cli import main as cli_main

    global _command_only
    _command_only = True
    return cli_main(argv, gui=open_window)


# A command ran (not the window, nor the self-test), or the CLI opened the window: see
# :func:`console`.
_command_only = False
_window_opened = False


def console() -> NoReturn:
    """The `casedesk` program: :func:`main`, then the exit.

    After a command, the interpreter's own teardown (freeing every object of SQLAlchemy,
    httpx and the rest, one by one) took 0.1-0.15 s here: a tenth of a `casedesk sync` that
    pushed 200 cases. A command has closed its cache and files when ``main`` returns, so its
    output and log are flushed and the process leaves at once. The window (Qt saves its
    settings as its objects go) and the self-test end the usual way."""
    code = main()
    if not _command_only or _window_opened:
        sys.exit(code)
    import logging

    logging.shutdown()  # flushes and closes the log file
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say on it
            pass
    os._exit(code)


def window_options(argv: list[str]) -> tuple[str | None, str | None, bool] | None:
    """(data dir, profile, verbose) when the command line asks for the window, else None.

    Decided before the CLI (and with it SQLAlchemy) is imported, so the window's placeholder
    paints within a fraction of a second of a double-click.
    """
    if any(arg in ("-h", "--help", "--version") for arg in argv):
        return None
    import argparse  # here: the key helper, which starts this same program, does without it

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir")
    parser.add_argument("--profile")
    parser.add_argument("-v", "--verbose", action="store_true")
    try:
        known, rest = parser.parse_known_args(argv)
    except SystemExit:
        return None
    if rest not in ([], ["gui"]):
        return None
    return known.data_dir, known.profile, known.verbose


NO_DISPLAY = (
    "casedesk: error: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset). "
    "Start it from a desktop session, or use the commands: casedesk --help\n"
)


def display_missing() -> bool:
    """On Linux without a desktop session Qt would abort; say so in one line instead."""
    env = os.environ
    return (sys.platform.startswith("linux") and not env.get("QT_QPA_PLATFORM")
            and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"))


def start_window(data_dir: str | None, profile: str | None, verbose: bool) -> int:
    if display_missing():
        sys.stderr.write(NO_DISPLAY)
        return 1
    from desktop import key_prefetch

    # First of all: the helper reads the folder's key while this process loads everything
    # else (it resolves the folder from the same options). The key goes only to this
    # process, which checks the folder below and throws the key away if it is refused.
    prefetch = key_prefetch.start_for(data_dir, profile)
    try:
        root = prepare_folder(data_dir, profile, verbose)
        if root is None:
            return 1
        return open_window(root, None, prefetch)
    finally:
        if prefetch is not None:
            prefetch.close()


def prepare_folder(data_dir: str | None, profile: str | None, verbose: bool) -> str | None:
    """The data folder, made and checked, with its log; None (said on stderr) if unusable."""
    from desktop import datafolder
    from desktop import logs as applogs
    from desktop.errors import CaseDeskError

    try:
        folder = datafolder.prepare(datafolder.resolve(data_dir, profile))
    except CaseDeskError as exc:
        sys.stderr.write(f"casedesk: error: {exc}\n")
        return None
    applogs.configure(folder.logs, verbose=verbose)
    return str(folder.root)


def open_window(data_dir: str | None, profile: str | None,
                prefetch: KeyPrefetch | None = None) -> int:
    """`casedesk` with no command: the window (imported only then, so the CLI starts fast).

    *prefetch*: the helper reading the folder's key (one is started here if not given)."""
    global _window_opened
    _window_opened = True
    from desktop import datafolder, key_prefetch
    from desktop.errors import CaseDeskError

    own = prefetch is None
    if own:
        try:
            prefetch = key_prefetch.start(datafolder.resolve(data_dir, profile))
        except CaseDeskError:
            prefetch = None  # the window's start-up says what is wrong with the folder
    try:
        from desktop.ui.app import run

        return run(data_dir=data_dir, profile=profile, prefetch=prefetch)
    finally:
        if own and prefetch is not None:
            prefetch.close()


if __name__ == "__main__":
    console()
