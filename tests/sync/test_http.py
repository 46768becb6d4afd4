"""Every server client of the process shares one TLS context: the CA bundle is read once,
not once per sync run (~25 ms of CPU each), and certificates are still verified."""

from __future__ import annotations

import ssl

import httpx
import pytest

from desktop.sync import http
from desktop.sync.care360.client import Care360Client
from desktop.sync.medmitra.client import MedMitraClient


def test_clients_share_one_context_and_read_the_ca_bundle_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[ssl.SSLContext] = []
    real = httpx.create_ssl_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = real(*args, **kwargs)  # type: ignore[arg-type]
        made.append(context)
        return context

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    http.shared_tls_context.cache_clear()
    try:
        clients = [MedMitraClient("https://cases.example.org", "t", "doctor-1") for _ in range(3)]
        clients.append(Care360Client("https://portal.example.org", "key", "owner"))
        contexts = {id(c._http._transport._pool._ssl_context) for c in clients}  # type: ignore[attr-defined]
        assert len(made) == 1
        assert contexts == {id(made[0])}
        for client in clients:
            client.close()
    finally:
        http.shared_tls_context.cache_clear()


def test_the_shared_context_verifies_certificates_and_host_names() -> None:
    context = http.shared_tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0
