"""Bounded answers (desktop/sync/http.py) against the reference server's hostile modes over
real HTTP: caps counted after decompression, a deadline that a dripping server cannot
stretch, downloads held to their declared size; and over-deep JSON decoded record by record."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
import zlib

import pytest

from desktop.sync import errors as err
from desktop.sync.http import DECODE_PIECE, BoundedDecoder, limit
from desktop.sync.json_answer import decode_json, is_too_deep, nesting_exceeds
from desktop.sync.medmitra.client import MedMitraClient
from desktop.sync.outbox import RetryPolicy

MIB = 1 << 20


@pytest.fixture
def client(reference_server):
    with MedMitraClient(reference_server.url, "token-doctor-1", "doctor-1") as c:
        yield c


def test_decoder_inflates_a_gzip_bomb_in_small_pieces() -> None:
    bomb = gzip.compress(b" " * (64 * MIB), 9)
    assert len(bomb) < 100 * 1024
    decoder = BoundedDecoder("gzip")
    biggest = total = 0
    for start in range(0, len(bomb), 65536):
        for piece in decoder.feed(bomb[start:start + 65536]):
            biggest, total = max(biggest, len(piece)), total + len(piece)
    total += len(decoder.flush())
    assert total == 64 * MIB and biggest <= DECODE_PIECE


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_decoder_reads_deflate_with_and_without_its_header(wbits: int) -> None:
    z = zlib.compressobj(6, zlib.DEFLATED, wbits)
    data = z.compress(b'{"cases": []}') + z.flush()
    decoder = BoundedDecoder("deflate")
    assert b"".join(decoder.feed(data)) + decoder.flush() == b'{"cases": []}'


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError):
        BoundedDecoder("br")


def test_a_cap_can_only_be_lowered(monkeypatch) -> None:
    monkeypatch.setenv("CASEDESK_MAX_LIST_BYTES", str(10 * MIB))
    assert limit("list", 128 * MIB) == 10 * MIB
    monkeypatch.setenv("CASEDESK_MAX_LIST_BYTES", str(1 << 40))
    assert limit("list", 128 * MIB) == 128 * MIB
    monkeypatch.setenv("CASEDESK_MAX_LIST_BYTES", "lots")
    assert limit("list", 128 * MIB) == 128 * MIB


@pytest.mark.parametrize("mode, size", [("gzip_bomb", 256 * MIB), ("huge_body", 64 * MIB)])
def test_case_list_bombs_stop_at_the_cap_before_parsing(client, reference_server, monkeypatch,
                                                        mode: str, size: int) -> None:
    monkeypatch.setenv("CASEDESK_MAX_LIST_BYTES", str(2 * MIB))
    reference_server.hostile(mode, path="/cases/all_cases", size=size)
    tracemalloc.start()
    try:
        with pytest.raises(err.ProtocolError, match="larger than Case Desk accepts") as caught:
            for _record in client.iter_case_records():  # read as the pull does: none kept
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"{peak / MIB:.1f} MiB"
    assert not caught.value.retryable and not caught.value.outcome_unknown


def test_other_answers_have_their_own_smaller_cap(client, reference_server,
                                                  monkeypatch) -> None:
    monkeypatch.setenv("CASEDESK_MAX_ANSWER_BYTES", str(MIB))
    [case_id] = reference_server.seed_cases("doctor-1", 1)
    reference_server.hostile("huge_body", path="/cases/cases/", size=8 * MIB)
    with pytest.raises(err.ProtocolError, match=r"larger than Case Desk accepts \(1 MiB\)"):
        client.case_detail(case_id)
    assert [c.server_id for c in client.list_cases()] == [case_id]  # the list cap is apart


def test_a_dripping_answer_ends_at_the_deadline(client, reference_server, monkeypatch) -> None:
    """One byte every half second resets any read timeout; the deadline still ends it."""
    monkeypatch.setenv("CASEDESK_REQUEST_DEADLINE", "2")
    reference_server.hostile("drip", path="/cases/all_cases", seconds=0.5)
    started = time.monotonic()
    with pytest.raises(err.NetworkError, match="took longer than Case Desk waits") as caught:
        client.list_case_records()
    assert time.monotonic() - started < 4
    assert caught.value.retryable and not caught.value.again_in_run


def test_a_dripping_answer_is_given_up_on_long_before_the_deadline(client, reference_server,
                                                                  monkeypatch) -> None:
    """After a grace period the body must average a few KiB a second (the deadline of a
    case list is minutes: a line that slow could carry the list of a big clinic)."""
    monkeypatch.setenv("CASEDESK_SLOW_ANSWER_GRACE", "1")
    reference_server.hostile("drip", path="/cases/all_cases", seconds=0.05)
    started = time.monotonic()
    with pytest.raises(err.NetworkError, match="took longer than Case Desk waits"):
        client.list_case_records()
    assert time.monotonic() - started < 3


def test_error_answers_are_read_only_for_their_explanation(client, reference_server) -> None:
    reference_server.fail_next(status=500, path="/cases/all_cases")
    with pytest.raises(err.ServerError):
        client.list_case_records()


def test_download_stops_at_the_declared_size(client, reference_server, tmp_path) -> None:
    [case_id] = reference_server.seed_cases("doctor-1", 1)
    remote = reference_server.add_file(case_id, "lab.pdf", b"%PDF-1.4\n" + b"x" * 36,
                                       "application/pdf")
    reference_server.hostile("oversize_download", path="/files/", size=64 * MIB)
    got = 0
    with pytest.raises(err.DownloadRefused, match=r"more than it declared .*\(45 bytes\)"):
        for chunk in client.download_chunks(remote["file_url"], declared=45):
            got += len(chunk)
    assert got <= 45 + 64 * 1024


def test_download_gzip_bomb_stops_at_the_hard_maximum(client, reference_server,
                                                      monkeypatch) -> None:
    monkeypatch.setenv("CASEDESK_MAX_DOWNLOAD_BYTES", str(4 * MIB))
    [case_id] = reference_server.seed_cases("doctor-1", 1)
    remote = reference_server.add_file(case_id, "lab.pdf", b"%PDF-1.4\n", "application/pdf")
    reference_server.hostile("gzip_download", path="/files/", size=256 * MIB)
    got = 0
    with pytest.raises(err.DownloadRefused, match=r"more than Case Desk accepts .*\(4 MiB\)"):
        for chunk in client.download_chunks(remote["file_url"]):
            got += len(chunk)
    assert got <= 4 * MIB


def test_long_retry_after_is_not_slept_through() -> None:
    policy = RetryPolicy()
    assert policy.waits_long(3600) and not policy.waits_long(2)
    assert policy.delay(1, 3600) <= policy.short_wait
    later = policy.next_run_delay(1, retry_after=3600).total_seconds()
    assert later >= 3600
    assert policy.next_run_delay(1, retry_after=1e9).total_seconds() == policy.retry_after_max


# ------------------------------------------------------------------ JSON nested too deep


def test_over_deep_value_costs_only_its_record() -> None:
    deep = "[" * 200_000 + "]" * 200_000
    body = ('{"cases": [{"case_id": "a"}, {"case_id": "b", "case_summary": ' + deep
            + '}, {"case_id": "c", "s": "]]}}\\"["}]}').encode()
    with pytest.raises(RecursionError):
        json.loads(body)
    cases = decode_json(body)["cases"]
    assert [is_too_deep(c) for c in cases] == [False, True, False]
    assert cases[0] == {"case_id": "a"} and cases[2] == {"case_id": "c", "s": ']]}}"['}


def test_over_deep_answer_as_a_whole_is_one_value() -> None:
    assert is_too_deep(decode_json(b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(ValueError):
        decode_json(b"[" * 100_000)


def test_nesting_is_measured_without_recursion() -> None:
    value: object = []
    for _ in range(100_000):
        value = [value]
    assert nesting_exceeds(value, 16)
    assert not nesting_exceeds({"a": [1, {"b": 2}]}, 3)
