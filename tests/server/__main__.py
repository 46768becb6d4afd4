"""Run the reference server by hand: `python -m tests.server --port 8765 --data /tmp/refserver`.

The first stdout line is always "Reference server listening on http://HOST:PORT", so a parent
process (tests/server/control.py) can use `--port 0` and learn the port the OS picked.
"""

from __future__ import annotations

import argparse
import gc
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn

from tests.server.app import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--data", required=True, type=Path, help="folder for SQLite and files")
    return parser.parse_args(argv)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, made here so the port is known before uvicorn starts.

    IPPROTO_TCP is named: asyncio turns TCP_NODELAY on only for connections whose protocol
    says TCP. With proto 0, Nagle held every answer's body until the client acknowledged its
    head, and the client delays that acknowledgement: ~40 ms on every request.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir: Path = args.data.resolve()
    spool = data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    # Multipart uploads spool to disk; keep that on the data disk, not a possibly small /tmp.
    tempfile.tempdir = str(spool)
    app = create_app(data_dir)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = listening_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"Reference server listening on http://{shown}:{port}", flush=True)

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,  # a delayed (faulted) request must not hold up stop()
    )
    server = uvicorn.Server(config)
    # Objects alive at start-up (FastAPI, pydantic, uvicorn: most of the heap) are never freed;
    # frozen, full collections stop walking them. Without this, every second listing of
    # 10,000 cases paid a ~20 ms full collection, and client timings swung with it.
    gc.freeze()
    try:
        server.run(sockets=[sock])
    finally:
        app.state.server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
