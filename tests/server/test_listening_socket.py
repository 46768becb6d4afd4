"""The reference server answers without Nagle's delay, as a deployed server does."""

from __future__ import annotations

import asyncio
import socket

from tests.server.__main__ import listening_socket


def test_connections_the_server_accepts_send_without_delay() -> None:
    # What uvicorn does with the socket: asyncio's transport sets TCP_NODELAY on each accepted
    # connection only when the listening socket says TCP. Without it every answer (head, then
    # body) waited for the client's delayed acknowledgement, ~40 ms a request.
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        sock = listening_socket("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        host, port = sock.getsockname()[:2]
        with socket.create_connection((host, port), timeout=5):
            for _ in range(200):
                if seen:
                    break
                await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()

    asyncio.run(accept_one())
    assert seen and seen[0] != 0
