"""One TLS context for every server client of the process.

Making an ``httpx.Client`` loads and parses the CA bundle (~25 ms of CPU here, holding the
GIL), and every sync run makes a client. The context carries no per-connection state, so one
built on first use serves them all; it is what httpx would build (certifi's bundle, or
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set).
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def shared_tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
