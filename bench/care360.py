"""Care360 upload: streamed base64 JSON vs sending a pre-encoded body, over real HTTP.

Care360 wants the file as base64 inside JSON. Case Desk produces that body as a stream
(``Base64JsonBody``) with an exact Content-Length; the benchmark checks that memory stays flat
and what the on-the-fly encoding costs. Contenders, each uploading the same file to the
reference server (a separate process) on loopback:

- ``Care360Client.upload_file`` (encode while sending), in a fresh spawned process whose peak
  RSS growth (VmHWM after - before; imports and sign-in excluded) is the memory figure;
- raw httpx streaming the *pre-encoded* JSON file (same HTTP stack, no encoding work), also
  in a child with its VmHWM growth;
- ``curl -T body.json -X POST`` of the same pre-encoded file (a native-code floor).

The pre-encoding time is reported separately, never counted for the baselines. The server
decodes and stores every upload, so it bounds all three alike. Prints; never asserts.
Targets: RSS growth <= 64 MiB; client/httpx-raw close to 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench.measure import MIB, generate, vm_hwm_kib

OWNER = "bench@example.org"






def _pre_encode(src: Path, dst: Path, fields: dict[str, str]) -> float:
    """The same JSON body, written to disk ahead of time for the baselines."""
    start = time.perf_counter()
    with open(src, "rb") as f, open(dst, "wb") as out:
        out.write(("{" + "".join(f"{json.dumps(k)}:{json.dumps(v)}," for k, v in fields.items())
                   + '"data":"').encode())
        while piece := f.read(3 * MIB):
            out.write(base64.b64encode(piece))
        out.write(b'"}')
    return time.perf_counter() - start


def _client_child(url: str, api_key: str, refresh: str, src: str, case_id: str
                  ) -> tuple[float, int, int]:
    """In a fresh process: (seconds, peak RSS growth KiB, stored size) for upload_file."""
    from desktop.sync.care360.client import Care360Client

    with Care360Client(url, api_key, OWNER, refresh_token=refresh) as client:
        client.ensure_access()  # sign-in renewal outside the measured window
        before = vm_hwm_kib()
        start = time.perf_counter()
        client.upload_file(Path(src), "bench.pdf", "application/pdf", case_id=case_id)
        seconds = time.perf_counter() - start
        growth = vm_hwm_kib() - before
    return seconds, growth, os.path.getsize(src)


def _httpx_child(url: str, api_key: str, access: str, body: str) -> tuple[float, int]:
    """In a fresh process: (seconds, peak RSS growth KiB) streaming a pre-encoded body."""
    import httpx

    headers = {"cv-api-key": api_key, "Authorization": f"Bearer {access}",
               "Content-Type": "application/json",
               "Content-Length": str(os.path.getsize(body))}
    with httpx.Client(timeout=httpx.Timeout(60.0)) as http:
        before = vm_hwm_kib()
        start = time.perf_counter()
        with open(body, "rb") as f:
            def chunks():
                while piece := f.read(MIB):
                    yield piece
            response = http.post(f"{url}/api/v1/users/me/files/upload", content=chunks(),
                                 headers=headers)
        seconds = time.perf_counter() - start
        growth = vm_hwm_kib() - before
    response.raise_for_status()
    return seconds, growth


def _curl(url: str, api_key: str, access: str, body: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-T", str(body),
         "-H", f"cv-api-key: {api_key}", "-H", f"Authorization: Bearer {access}",
         "-H", "Content-Type: application/json", "-H", "Expect:",
         f"{url}/api/v1/users/me/files/upload"],
        check=True, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - start
    if out.stdout.strip() != "200":
        raise RuntimeError(f"curl upload answered {out.stdout.strip()}")
    return seconds


def _session(server, client_cls, api_key: str) -> tuple[str, str, str]:
    """Reset the server (drops stored uploads), sign in, own a case: (access, refresh, case)."""
    server.reset()
    with client_cls(server.url, api_key, OWNER) as client:
        client.send_otp(email=OWNER)
        tokens = client.verify_otp(server.care360_otp(OWNER), email=OWNER)
    case_id = str(uuid.uuid4())
    server.care360_add_case(OWNER, case_id)
    return tokens.access, tokens.refresh, case_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.care360")
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each contender (median)")
    parser.add_argument("--dir", default=None, help="where to put temp files (default: TMPDIR)")
    args = parser.parse_args(argv)

    from desktop.sync.care360.client import Care360Client
    from tests.server.care360_store import DEFAULT_API_KEY as KEY
    from tests.server.control import ReferenceServer

    ctx = multiprocessing.get_context("spawn")
    ours, ours_rss, raw, raw_rss, curl = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-care360-", dir=args.dir) as tmp:
        root = Path(tmp)
        src = root / "source.pdf"
        generate(src, args.size_mib)
        with ReferenceServer.start_process(root / "server") as server:
            for _ in range(args.repeat):
                access, refresh, case_id = _session(server, Care360Client, KEY)
                fields = {"name": "bench.pdf", "mimeType": "application/pdf", "caseId": case_id}
                body = root / "body.json"
                encode_s = _pre_encode(src, body, fields)
                with ctx.Pool(1) as pool:
                    seconds, growth, _size = pool.apply(
                        _client_child, (server.url, KEY, refresh, str(src), case_id))
                ours.append(seconds)
                ours_rss.append(growth / 1024)
                access, refresh, case_id = _session(server, Care360Client, KEY)
                _pre_encode(src, body, {**fields, "caseId": case_id})
                with ctx.Pool(1) as pool:
                    seconds, growth = pool.apply(
                        _httpx_child, (server.url, KEY, access, str(body)))
                raw.append(seconds)
                raw_rss.append(growth / 1024)
                if shutil.which("curl"):
                    access, refresh, case_id = _session(server, Care360Client, KEY)
                    _pre_encode(src, body, {**fields, "caseId": case_id})
                    curl.append(_curl(server.url, KEY, access, body))
                body.unlink()
            server.reset()

    size_mb = args.size_mib * MIB / 1e6
    wire_mb = size_mb * 4 / 3

    def line(label: str, runs: list[float]) -> str:
        med = statistics.median(runs)
        return (f"  {label:44} {med:7.2f} s  {size_mb / med:6.0f} MB/s of file "
                f"({wire_mb / med:5.0f} MB/s on the wire)   runs: "
                + ", ".join(f"{s:.2f}" for s in runs))

    print(f"Care360 upload, {args.size_mib} MiB file ({wire_mb:.0f} MB of base64 JSON), "
          f"median of {args.repeat}, {os.cpu_count()} CPUs, loopback to the reference server")
    print(line("Care360Client.upload_file (streamed encode)", ours))
    print(line("httpx, pre-encoded body (baseline)", raw))
    if curl:
        print(line("curl -T pre-encoded body (native floor)", curl))
    print(f"  pre-encoding the body (baselines only)        {encode_s:7.2f} s")
    print(f"  ratio client/httpx-pre-encoded = {statistics.median(ours) / statistics.median(raw):.2f}"
          + (f"   client/curl = {statistics.median(ours) / statistics.median(curl):.2f}"
             if curl else ""))
    print(f"  peak RSS growth: client {max(ours_rss):.1f} MiB, httpx baseline "
          f"{max(raw_rss):.1f} MiB   (target <= 64 MiB)")


if __name__ == "__main__":
    main()
