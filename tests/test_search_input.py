"""Searches never fail on what a person types or pastes: a thousand short words, a pasted NUL
or other control characters, a word of 100,000 letters. The same result and the same note in
the command line and in the window."""

from __future__ import annotations

import io
import json
import random
import string

import pytest

from desktop.cli import main
from desktop.workspace import MAX_SEARCH_WORDS, CaseQuery, Workspace, search_words


@pytest.fixture
def ws(tmp_path):
    with Workspace.open(tmp_path / "data") as workspace:
        workspace.create_case("Jane Smith", 30, "female", "pt on abx for cough")
        workspace.create_case("Ravi Kumar", 61, "male", "chest pain")
        yield workspace


def thousand_short_words() -> str:
    rng = random.Random(13)
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(2))
                    for _ in range(1000))


def test_a_thousand_short_words_give_an_answer_and_a_note(ws: Workspace) -> None:
    query = CaseQuery(search=thousand_short_words())
    assert ws.count_cases(query) == 0 and ws.list_cases(query) == []
    assert len(query.words) == MAX_SEARCH_WORDS and query.words_left_out > 0


def test_a_thousand_long_words_give_an_answer_too(ws: Workspace) -> None:
    query = CaseQuery(search=" ".join(f"word{i}" for i in range(1000)))
    assert ws.count_cases(query) == 0
    assert query.words_left_out == 1000 - MAX_SEARCH_WORDS


def test_repeated_words_count_once(ws: Workspace) -> None:
    query = CaseQuery(search="smith " * 1000)
    assert query.words == ["smith"] and query.words_left_out == 0
    assert [c.patient_name for c in ws.list_cases(query)] == ["Jane Smith"]


@pytest.mark.parametrize("pasted", ["Smith\x00", "Jane\x00Smith", "\x00", "Sm\x1bith\x07",
                                    "Jane\u200bSmith", "Smith\r\n"])
def test_control_characters_read_as_spaces(ws: Workspace, pasted: str) -> None:
    query = CaseQuery(search=pasted)
    names = [c.patient_name for c in ws.list_cases(query)]
    assert ws.count_cases(query) == len(names)
    if pasted == "\x00":
        assert len(names) == 2  # nothing to search for: every case, as an empty box
    else:  # "Sm\x1bith": "ith" anywhere, and "Sm" beside it
        assert names == ["Jane Smith"], (pasted, names)


def test_a_very_long_word_is_cut_and_said(ws: Workspace) -> None:
    query = CaseQuery(search="x" * 100_000)
    assert ws.count_cases(query) == 0 and query.words_shortened == 1
    assert search_words("ab " * 3)[0] == ["ab"]


def cli(ws: Workspace, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--data-dir", str(ws.folder.root), *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_gives_the_same_answer_and_the_note(ws: Workspace) -> None:
    code, out, err = cli(ws, "cases", "list", "--search", thousand_short_words())
    assert code == 0 and err == ""
    assert "No cases match." in out
    assert f"Note: searched the first {MAX_SEARCH_WORDS} words;" in out
    code, out, err = cli(ws, "cases", "list", "--search", "Jane\x00Smith", "--json")
    assert code == 0 and err == ""
    listed = json.loads(out)
    assert [c["patient_name"] for c in listed["cases"]] == ["Jane Smith"]
    assert listed["note"] is None
