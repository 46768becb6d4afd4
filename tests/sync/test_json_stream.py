"""The case list decoded record by record as its bytes arrive (desktop/sync/json_stream.py)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator

import pytest

from desktop.sync import json_stream
from desktop.sync.json_answer import TooDense, is_too_deep
from desktop.sync.json_stream import NotAList, NotAnObject, array_items

MIB = 1 << 20
RECORDS = [
    {"case_id": f"case-{i}", "id": i, "patient_name": f'Pat "{i}" \u00e9\u00fc\U0001f600',
     "patient_age": i % 90, "case_summary": None if i % 3 else "a note, with [brackets] {x}",
     "updated_at": "2026-01-01T00:00:00Z"}
    for i in range(300)
]


@pytest.fixture(autouse=True, params=["streamed", "whole"])
def decoding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both paths: record by record as the bytes arrive, and (an answer below
    ``WHOLE_BELOW``) decoded whole — the same records, the same errors."""
    if request.param == "streamed":
        monkeypatch.setattr(json_stream, "WHOLE_BELOW", 0)
    return str(request.param)


def pieces(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 4096, 1 << 30])
def test_records_come_out_whole_however_the_bytes_are_cut(size: int) -> None:
    body = json.dumps({"count": 300, "cases": RECORDS, "next": {"page": [1, 2]}}).encode()
    assert list(array_items(pieces(body, size), "cases")) == RECORDS


def test_a_byte_order_mark_and_blanks_are_read() -> None:
    body = b'\xef\xbb\xbf \n{ "cases" : [ 12 , {"a": 1.5e3} ] }\n'
    assert list(array_items(pieces(body, 2), "cases")) == [12, {"a": 1500.0}]


@pytest.mark.parametrize("body", [b"{}", b'{"cases": null}', b'{"cases": []}', b'{"other": [1]}'])
def test_no_list_is_no_records(body: bytes) -> None:
    assert list(array_items(pieces(body, 1), "cases")) == []


@pytest.mark.parametrize("body, error", [
    (b"", ValueError), (b"[1, 2]", NotAnObject), (b'"text"', NotAnObject),
    (b'{"cases": 5}', NotAList), (b'{"cases": {"a": 1}}', NotAList),
    (b'{"cases": [1, 2', ValueError), (b'{"cases": [{"case_id": "x"', ValueError),
    (b'{"cases": [1 2]}', ValueError), (b'{"cases": [1]} extra', ValueError),
    (b'{"cases": [1], "cases": [2]}', ValueError), (b"not json", ValueError),
    (b'{"cases": ["\xff"]}', ValueError),
])
def test_a_bad_answer_is_an_error_after_the_records_before_it(body: bytes, error: type) -> None:
    with pytest.raises(error):
        list(array_items(pieces(body, 3), "cases"))


def test_a_record_nested_too_deeply_costs_that_record_only() -> None:
    deep = "[" * 200_000 + "]" * 200_000
    body = ('{"cases": [{"case_id": "deep", "case_summary": ' + deep + '}, {"case_id": "ok"}]}'
            ).encode()
    tracemalloc.start()
    try:
        records = list(array_items(pieces(body, 64 * 1024), "cases"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert is_too_deep(records[0]) and records[0]["case_id"] == "deep"
    assert records[1] == {"case_id": "ok"}
    assert peak < 8 * MIB, f"{peak / MIB:.1f} MiB"  # an incremental parser took ~1 GiB at 20,000


def test_an_answer_of_empty_records_is_refused_as_it_arrives() -> None:
    handed = []

    def body() -> Iterator[bytes]:
        yield b'{"cases": ['
        for _ in range(64):  # 64 x 96 KiB of "{}," would be 2 million dicts
            handed.append(1)
            yield b"{}," * 32768
        yield b"{}]}"

    with pytest.raises(TooDense):
        list(array_items(body(), "cases"))
    assert len(handed) < 16  # refused soon after the first MiB


def test_a_long_record_split_into_many_pieces_is_decoded_in_linear_time() -> None:
    note = "x" * (4 * MIB)
    body = json.dumps({"cases": [{"case_id": "long", "case_summary": note}]}).encode()
    tries = 0
    real = json.JSONDecoder.raw_decode

    class Counting(json.JSONDecoder):
        def raw_decode(self, s: str, idx: int = 0):  # type: ignore[override]
            nonlocal tries
            tries += 1
            return real(self, s, idx)

    import desktop.sync.json_stream as stream

    original = stream._DECODER
    stream._DECODER = Counting()
    try:
        (record,) = array_items(pieces(body, 1024), "cases")
    finally:
        stream._DECODER = original
    assert record["case_summary"] == note
    assert tries < 40  # 4,096 pieces: retried only each time the held text doubled
