"""Workspace: the local API the CLI and the window share."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import desktop.workspace as workspace_module
from desktop.errors import NotFoundError, ValidationError
from desktop.models.tables import Case, ChangeKind, PendingChange
from desktop.workspace import CaseQuery, Workspace
from tests import cachefile, samples


@pytest.fixture
def ws(tmp_path):
    with Workspace.open(tmp_path / "data") as w:
        yield w


def _outbox(ws: Workspace) -> list[PendingChange]:
    with ws.sessions() as s:
        return list(s.scalars(select(PendingChange).order_by(PendingChange.id)))


def test_create_queues_one_create(ws):
    case = ws.create_case("Jane Smith", 32, "Female", "Follow-up, diabetes")
    assert case.patient_gender == "female"
    assert case.sync_state == "pending"
    rows = _outbox(ws)
    assert [(r.kind, r.case_id) for r in rows] == [("create_case", case.id)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patient_name": "  "}, "name is required"),
        ({"patient_age": 151}, "between 0 and 150"),
        ({"patient_age": -1}, "between 0 and 150"),
        ({"patient_age": "thirty"}, "whole number"),
        ({"patient_gender": ""}, "Gender is required"),
    ],
)
def test_create_validation(ws, kwargs, message):
    fields = {"patient_name": "A", "patient_age": 3, "patient_gender": "male"} | kwargs
    with pytest.raises(ValidationError, match=message):
        ws.create_case(**fields)
    assert ws.count_cases() == 0
    assert _outbox(ws) == []


def test_age_bounds_accepted(ws):
    assert ws.create_case("Newborn", 0, "male").patient_age == 0
    assert ws.create_case("Elder", "150", "female").patient_age == 150


def test_gender_not_editable(ws):
    case = ws.create_case("A", 3, "male")
    with pytest.raises(ValidationError, match="cannot be changed"):
        ws.edit_case(case.id, patient_gender="female")
    assert ws.get_case(case.id).patient_gender == "male"


def test_unknown_status_is_kept_as_text(ws):
    case = ws.create_case("A", 3, "male", status="triaged-by-nurse")
    assert ws.get_case(case.id).status == "triaged-by-nurse"


def _mark_synced(ws: Workspace, case_id: str) -> None:
    """What a successful create push leaves behind: a server id and an empty outbox."""
    with ws.transaction() as s:
        case = s.get(Case, case_id)
        case.server_id = "srv-" + case_id[:8]
        case.sync_state = "synced"
        for row in s.scalars(select(PendingChange).where(PendingChange.case_id == case_id)):
            s.delete(row)


def test_repeated_edits_coalesce_into_one_update(ws):
    case = ws.create_case("Jane Smith", 32, "female")
    _mark_synced(ws, case.id)
    ws.edit_case(case.id, case_summary="first")
    ws.edit_case(case.id, patient_age=33)
    ws.edit_case(case.id, case_summary="second", status="completed")
    rows = _outbox(ws)
    assert len(rows) == 1
    assert rows[0].kind == ChangeKind.UPDATE_CASE
    assert rows[0].fields == ["case_summary", "patient_age", "status"]
    assert rows[0].seq == 3
    assert ws.get_case(case.id).sync_state == "pending"


def test_noop_edit_queues_nothing(ws):
    case = ws.create_case("Jane", 32, "female", "notes")
    _mark_synced(ws, case.id)
    ws.edit_case(case.id, case_summary="notes", patient_age="32")
    assert _outbox(ws) == []
    assert ws.get_case(case.id).sync_state == "synced"


def test_edit_of_unsynced_case_folds_into_its_create(ws):
    case = ws.create_case("Jane", 32, "female")
    ws.edit_case(case.id, case_summary="more")
    rows = _outbox(ws)
    assert [r.kind for r in rows] == ["create_case"]
    assert rows[0].seq == 2


def test_failure_between_case_write_and_outbox_write_leaves_neither(ws, monkeypatch):
    case = ws.create_case("Jane", 32, "female", "before")
    _mark_synced(ws, case.id)

    def explode(*args, **kwargs):
        raise OSError("disk vanished")

    monkeypatch.setattr(workspace_module, "queue_update_rows", explode)
    with pytest.raises(OSError):
        ws.edit_case(case.id, case_summary="after")
    assert ws.get_case(case.id).case_summary == "before"
    assert _outbox(ws) == []


def test_failure_in_create_outbox_write_leaves_no_case(ws, monkeypatch):
    def explode(*args, **kwargs):
        raise OSError("disk vanished")

    monkeypatch.setattr(workspace_module, "queue_create", explode)
    with pytest.raises(OSError):
        ws.create_case("Jane", 32, "female")
    assert ws.count_cases() == 0
    assert _outbox(ws) == []


def test_search_status_sort_paging(ws):
    ws.create_case("Jane Smith", 32, "female", "Follow-up, diabetes")
    ws.create_case("John Smithers", 50, "male", "fracture")
    ws.create_case("Ann Lee", 70, "female", "smith's fracture of the wrist", status="completed")
    old = ws.create_case("Old Case", 40, "male", status="archived")
    assert {c.patient_name for c in ws.list_cases(CaseQuery(search="smith"))} == {
        "Jane Smith", "John Smithers", "Ann Lee"}
    assert [c.patient_name for c in ws.list_cases(CaseQuery(search="smith fracture", sort="name",
                                                             descending=False))] == [
        "Ann Lee", "John Smithers"]
    assert [c.patient_name for c in ws.list_cases(CaseQuery(status="completed"))] == ["Ann Lee"]
    assert ws.count_cases() == 3  # archived hidden
    assert ws.count_cases(CaseQuery(include_archived=True)) == 4
    assert [c.id for c in ws.list_cases(CaseQuery(status="archived"))] == [old.id]
    by_age = [c.patient_age for c in ws.list_cases(CaseQuery(sort="age", descending=False))]
    assert by_age == [32, 50, 70]
    page = ws.list_cases(CaseQuery(sort="age", descending=False), offset=1, limit=1)
    assert [c.patient_age for c in page] == [50]
    assert ws.case_ids(CaseQuery(sort="age"))[0] == ws.list_cases(CaseQuery(sort="age"))[0].id


def test_search_treats_wildcards_literally(ws):
    ws.create_case("%Sure", 1, "male")
    ws.create_case("100_percent", 1, "male")
    ws.create_case("Other", 1, "male")
    assert [c.patient_name for c in ws.list_cases(CaseQuery(search="%"))] == ["%Sure"]
    assert [c.patient_name for c in ws.list_cases(CaseQuery(search="0_p"))] == ["100_percent"]


def test_short_words_match_the_start_of_the_name_or_of_a_word_in_it(ws):
    jane = ws.create_case("Jane Smith", 30, "female", "smoker")
    ws.create_case("Osman Ali", 40, "male", "sm")
    assert [c.id for c in ws.list_cases(CaseQuery(search="ja"))] == [jane.id]
    assert [c.id for c in ws.list_cases(CaseQuery(search="JA sm"))] == [jane.id]
    assert ws.list_cases(CaseQuery(search="sm")) == []  # not the start of any name


def test_a_short_word_beside_a_longer_one_is_found_anywhere_like_it(ws):
    """A phrase from the notes finds its case: "pt on abx" must not hang on "pt" and "on"
    being too short for the trigram index."""
    noted = ws.create_case("Jane Smith", 30, "female", "pt on abx since monday")
    ws.create_case("Omar Ptak", 40, "male", "no abx")
    ws.create_case("Ola Nordmann", 50, "female", "pt declined abx")
    assert [c.id for c in ws.list_cases(CaseQuery(search="pt on abx"))] == [noted.id]
    assert ws.count_cases(CaseQuery(search="pt on abx")) == 1
    assert ws.case_ids(CaseQuery(search="pt on abx"), limit=10) == [noted.id]
    assert [c.id for c in ws.list_cases(CaseQuery(search="my own note"))] == []
    ws.edit_case(noted.id, case_summary="my own note")
    assert [c.id for c in ws.list_cases(CaseQuery(search="my own note"))] == [noted.id]
    # Short words alone still mean the start of the name.
    assert ws.list_cases(CaseQuery(search="pt")) == []


def test_find_by_prefix_and_unknown_id(ws):
    case = ws.create_case("Jane", 32, "female")
    assert ws.get_case(case.id[:8]).id == case.id
    with pytest.raises(NotFoundError, match="No case with id"):
        ws.get_case("does-not-exist")


def test_pending_lists_outbox_in_order(ws):
    a = ws.create_case("A", 1, "male")
    b = ws.create_case("B", 2, "female")
    rows = ws.pending()
    assert [(r.kind, r.patient_name) for r in rows] == [("create_case", "A"), ("create_case", "B")]
    assert ws.pending_count() == 2
    assert {r.case_id for r in rows} == {a.id, b.id}


PDF = samples.PDF  # a whole one-page PDF: intake checks that a file is whole
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
       b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


def test_attach_files_and_folders_with_per_file_verdicts(ws, tmp_path):
    case = ws.create_case("Jane", 32, "female")
    labs = tmp_path / "labs"
    labs.mkdir()
    (labs / "cbc.pdf").write_bytes(PDF)
    (labs / "empty.pdf").write_bytes(b"")
    (labs / "archive.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    scan = tmp_path / "chest.png"
    scan.write_bytes(PNG)
    results = ws.attach(case.id, [scan, labs])
    verdicts = {r.path.name: (r.outcome, r.reason) for r in results}
    assert verdicts["chest.png"][0] == "attached"
    assert verdicts["cbc.pdf"][0] == "attached"
    assert verdicts["empty.pdf"][0] == "refused" and "empty" in verdicts["empty.pdf"][1]
    assert verdicts["archive.zip"][0] == "refused"
    docs = {d.name: d for d in ws.documents(case.id)}
    assert docs["chest.png"].category == "radiology" and docs["chest.png"].mime_type == "image/png"
    assert docs["cbc.pdf"].category == "lab" and docs["cbc.pdf"].state == "local_only"
    assert ws.stored_bytes(docs["cbc.pdf"]).read() == PDF
    kinds = [r.kind for r in ws.pending()]
    assert kinds.count("upload_document") == 2


def test_same_content_twice_is_a_duplicate_not_stored_twice(ws, tmp_path):
    case = ws.create_case("Jane", 32, "female")
    a, b = tmp_path / "a.pdf", tmp_path / "copy-of-a.pdf"
    a.write_bytes(PDF)
    b.write_bytes(PDF)
    first = ws.attach(case.id, [a])
    second = ws.attach(case.id, [b])
    assert first[0].outcome == "attached"
    assert second[0].outcome == "duplicate" and "a.pdf" in second[0].reason
    assert len(ws.documents(case.id)) == 1
    # The same bytes on another case are a separate document sharing one blob.
    other = ws.create_case("John", 40, "male")
    assert ws.attach(other.id, [b])[0].outcome == "attached"
    assert len(list(ws.blobs.stored())) == 1


def test_category_override_and_edit(ws, tmp_path):
    case = ws.create_case("Jane", 32, "female")
    scan = tmp_path / "scan.png"
    scan.write_bytes(PNG)
    [result] = ws.attach(case.id, [scan], category="lab")
    assert result.document.category == "lab"
    doc = ws.set_document_category(result.document.id, "radiology")
    assert doc.category == "radiology"
    with pytest.raises(ValidationError):
        ws.set_document_category(result.document.id, "x-ray")


def test_blob_is_on_disk_before_its_row_commits(ws, tmp_path, monkeypatch):
    case = ws.create_case("Jane", 32, "female")
    f = tmp_path / "r.pdf"
    f.write_bytes(PDF)

    def explode(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(workspace_module, "queue_upload", explode)
    with pytest.raises(OSError):
        ws.attach(case.id, [f])
    assert ws.documents(case.id) == []  # no row without its outbox entry
    assert [r.kind for r in ws.pending()] == ["create_case"]
    stored = [ws.blobs.open_named(name).read() for name in ws.blobs.stored()]
    assert stored == [PDF]  # the bytes were already safe


def test_attach_size_limit_is_configurable(tmp_path):
    with Workspace.open(tmp_path / "d", max_file_bytes=10) as ws:
        case = ws.create_case("Jane", 32, "female")
        f = tmp_path / "big.pdf"
        f.write_bytes(PDF)
        [result] = ws.attach(case.id, [f])
        assert result.outcome == "refused" and "too large" in result.reason


def test_search_index_follows_edits_and_handles_odd_input(ws):
    a = ws.create_case("Zoë Émile", 30, "female", "post-op review")
    b = ws.create_case("Bob Stone", 41, "male", 'said "ouch"')
    assert [c.id for c in ws.list_cases(CaseQuery(search="émile"))] == [a.id]  # any case
    assert [c.id for c in ws.list_cases(CaseQuery(search='"ouch'))] == [b.id]  # quotes are text
    assert [c.id for c in ws.list_cases(CaseQuery(search="zo rev"))] == [a.id]  # short + long
    ws.edit_case(b.id, case_summary="knee effusion")
    assert ws.list_cases(CaseQuery(search="ouch")) == []
    assert [c.id for c in ws.list_cases(CaseQuery(search="effus"))] == [b.id]
    ws.edit_case(a.id, patient_name="Zoe Emile")
    assert ws.list_cases(CaseQuery(search="émile")) == []
    assert ws.count_cases(CaseQuery(search="zoe emile")) == 1


def test_transactions_take_the_write_lock_up_front(ws):
    """Reads inside a transaction are protected from writes landing before its own writes."""

    ws.create_case("Jane", 32, "female")
    other = cachefile.connect(ws.folder.cache, timeout=0.1, isolation_level=None)
    try:
        with ws.transaction() as session:
            session.scalar(select(Case.id))  # only a read so far
            with pytest.raises(cachefile.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at commit
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_attach_clears_temp_files_left_by_a_crashed_intake(ws, tmp_path):
    import os

    case = ws.create_case("Jane", 32, "female")
    ws.folder.blobs.mkdir(parents=True, exist_ok=True)
    stale = ws.folder.blobs / ".tmp-crashed"
    stale.write_bytes(b"half a scan")
    os.utime(stale, (0, 0))
    f = tmp_path / "r.pdf"
    f.write_bytes(PDF)
    assert ws.attach(case.id, [f])[0].outcome == "attached"
    assert not stale.exists()


def test_a_first_page_of_a_common_word_walks_the_list_order_and_matches_the_full_list(
    ws, monkeypatch
):
    """Common words read the first page in list order (stopping at the limit), rare ones by
    rowid; either way the page is the head of the full list, archived cases left out."""
    from tools.sample_data import bulk_insert

    monkeypatch.setattr(workspace_module, "COMMON_HITS", 200)  # "common" in a smaller cache
    bulk_insert(ws, 4000)
    for n in range(5):
        ws.create_case(f"Rare Zyxwv {n}", 40, "other", case_summary="only here")
    ws.archive_case(ws.case_ids(CaseQuery(search="zyxwv"))[0])
    seen = {}
    with ws.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        for text in ("pain", "zyxwv", "pain ma", "an"):
            seen[text] = Workspace._common_words(cursor, CaseQuery(search=text))
        cursor.close()
    assert seen == {"pain": True, "zyxwv": False, "pain ma": False, "an": False}
    for text in ("pain", "cough", "zyxwv", "pain ma", "an"):
        for query in (CaseQuery(search=text), CaseQuery(search=text, descending=False),
                      CaseQuery(search=text, status="pending")):
            full = ws.case_ids(query)
            assert ws.case_ids(query, limit=256) == full[:256], (text, query)
    assert len(ws.case_ids(CaseQuery(search="zyxwv"), limit=256)) == 4


def test_unarchive_restores_the_status_the_case_had(tmp_path):
    with Workspace.open(tmp_path / "d") as ws:
        case = ws.create_case("Amara Okafor", 47, "female", status="analyzing")
        assert ws.archive_case(case.id).status == "archived"
        assert ws.unarchive_case(case.id).status == "analyzing"
        ws.edit_case(case.id, status="completed")
        ws.edit_case(case.id, status="archived")  # archived by choosing the status
        assert ws.unarchive_case(case.id).status == "completed"
        assert ws.unarchive_case(case.id).status == "completed"  # not archived: unchanged
        # Archived before this release (or elsewhere): nothing on record, so pending.
        other = ws.create_case("Bruno Berger", 60, "male", status="archived")
        assert ws.unarchive_case(other.id).status == "pending"
        assert [p.kind for p in ws.pending() if p.case_id == case.id] == ["create_case"]


def test_an_edit_finds_its_case_by_server_id_or_prefix_and_keeps_every_rule(ws):
    """The edit's own SQL path (no unit of work) does what the ORM one did: found by local
    id, server id or prefix; archived remembers the status before; a synced case becomes
    pending again with its error cleared; a parked update is tried again; one audit entry per
    field with its before and after."""
    from desktop.models.tables import ChangeState

    case = ws.create_case("Jane Smith", 32, "female", "first")
    _mark_synced(ws, case.id)
    by_server = ws.edit_case("srv-" + case.id[:8], case_summary="second")
    assert by_server.id == case.id and by_server.case_summary == "second"
    assert by_server.sync_state == "pending"
    with ws.transaction() as s:
        row = s.scalars(select(PendingChange)).one()
        row.state, row.attempts = ChangeState.PARKED, 3
        s.get(Case, case.id).sync_error = "refused"
        s.get(Case, case.id).sync_state = "error"
    archived = ws.edit_case(case.id[:6], status="archived", patient_age=33)
    assert (archived.status, archived.patient_age, archived.sync_error) == ("archived", 33, None)
    assert archived.sync_state == "pending"
    [row] = _outbox(ws)
    assert (row.kind, row.fields, row.seq, row.state, row.attempts) == (
        "update_case", ["case_summary", "patient_age", "status"], 2, ChangeState.QUEUED, 0)
    assert ws.unarchive_case(case.id).status == "pending"  # the status it had before
    edits = [(e.detail["field"], e.detail["before"], e.detail["after"])
             for e in ws.audit_entries(case.id) if e.action == "edit"]
    assert ("case_summary", "first", "second") in edits
    assert ("patient_age", 32, 33) in edits and ("status", "pending", "archived") in edits
    unchanged = ws.edit_case(case.id, patient_age=33)  # nothing differs: nothing queued
    assert unchanged.patient_age == 33 and _outbox(ws)[0].seq == 3


def test_a_first_page_read_by_testing_rows_finds_what_the_index_finds(ws, monkeypatch):
    """A common search's first page may be read by testing rows in list order (LIKE) instead
    of from the trigram index. It must find exactly what the index finds: the index's own
    case folding (a Kelvin sign is a K to it, a long s an s), words in the name or the notes,
    LIKE's wildcards taken as letters, archived cases and the status filter, either order."""
    monkeypatch.setattr(workspace_module, "COMMON_HITS", 0)  # every search "common" ...
    monkeypatch.setattr(workspace_module, "ROW_TEST_COST", 0)  # ... and worth testing rows
    tested: list[tuple[str, int]] = []
    real = Workspace._first_page_in_rows

    def watched(self, cursor, query, limit):  # noqa: ANN001, ANN202
        page = real(self, cursor, query, limit)
        if page is not None:
            tested.append((query.search, limit))
        return page

    monkeypatch.setattr(Workspace, "_first_page_in_rows", watched)
    from tools.sample_data import bulk_insert

    bulk_insert(ws, 600)
    # Plain matches older than the folded ones: a test that missed those would still fill
    # a page, with the wrong case.
    ws.create_case("Kelly Adams", 35, "female", "Bruise on the right knee.")
    kelvin = ws.create_case("\u212aelly Brown", 40, "female", "Bruiſe on the left arm.")
    ws.create_case("Émile Dupont", 50, "male", "Took 50% of the dose_taken; pain at night.")
    ws.create_case("Jo Kim", 30, "female", None)
    ws.archive_case(ws.create_case("Kelly Stone", 61, "female", "bruise, pain").id)
    texts = ("kel", "KELLY", "bruise", "BRUISE", "mile", "émile", "50%", "e_t", "kim",
             "pain", "pain cough", "cough pain", "night pain")
    for text in texts:
        for query in (CaseQuery(search=text), CaseQuery(search=text, descending=False),
                      CaseQuery(search=text, include_archived=True),
                      CaseQuery(search=text, status="pending")):
            full = ws.case_ids(query)
            for limit in (1, 2, 256):
                assert ws.case_ids(query, limit=limit) == full[:limit], (text, query, limit)
    assert kelvin.id in ws.case_ids(CaseQuery(search="kel"))
    assert ws.case_ids(CaseQuery(search="bruise"), limit=1) == [kelvin.id]
    assert ("kel", 1) in tested and ("bruise", 1) in tested and ("pain", 2) in tested
    assert not [t for t in tested if t[0] == "émile"]  # not ASCII: the index's way only


def test_only_the_characters_listed_fold_into_ascii_in_the_trigram_index(tmp_path):
    """What the rows' test (_as_indexed) relies on: every code point beyond ASCII, matched
    through a trigram index against every printable ASCII character, and only those in
    _FOLDED_INTO_ASCII are found (SQLite's own folding, in the build the app ships)."""
    import string

    import sqlcipher3.dbapi2 as dbapi

    conn = dbapi.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize='trigram')")
    conn.executemany("INSERT INTO t(rowid, a) VALUES (?, ?)",
                     ((cp, chr(cp) + "qz") for cp in range(128, 0x110000)
                      if not 0xD800 <= cp < 0xE000))
    found = {}
    for char in string.printable[:94]:
        phrase = '"' + char.replace('"', '""') + 'qz"'
        for (rowid,) in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (phrase,)):
            found[chr(rowid)] = char.lower()
    conn.close()
    assert found == workspace_module._FOLDED_INTO_ASCII


def test_whole_reads_go_through_a_connection_of_their_own(ws, monkeypatch):
    """A full id list walks a whole index, and the whole-file check every page: through the
    shared connections they pushed out the pages the list's next search finds there. In a
    large cache they go through a connection with a small page cache of its own; a first
    page does not, nor a full list where the shared budget holds it."""
    from sqlalchemy import event

    ws.create_case("Amara Okafor", 47, "female", "cough")
    shared: list[int] = []
    event.listen(ws.engine, "checkout", lambda *_: shared.append(1))
    assert len(ws.case_ids(CaseQuery())) == 1  # a small cache: the shared connection
    assert shared == [1]
    shared.clear()
    monkeypatch.setattr(workspace_module, "SCAN_FROM_BYTES", 0)  # as if a large one
    assert len(ws.case_ids(CaseQuery())) == 1
    assert ws.check_pages() is None
    assert shared == []
    assert len(ws.case_ids(CaseQuery(), limit=256)) == 1
    assert shared == [1]
    assert ws._scans is not None
    with ws._scans.connect() as conn:
        size = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    assert size == -workspace_module.SCAN_CACHE_KIB


def test_a_first_page_for_the_start_of_a_name_walks_the_list_order(ws, monkeypatch):
    """Short words (the start of a name, or of a later word in it) read their first page by
    walking the list-order index, which holds the name; when the entries walked hold no
    whole page, through the name index as before. Either way the page is the head of the
    full list: archived cases, the status filter and the order kept."""
    from tools.sample_data import bulk_insert

    walked: list[tuple[str | None, bool]] = []
    real = Workspace._first_page_by_name_start

    def watched(self, cursor, query, limit):  # noqa: ANN001, ANN202
        page = real(self, cursor, query, limit)
        walked.append((query.search, page is not None))
        return page

    monkeypatch.setattr(Workspace, "_first_page_by_name_start", watched)
    bulk_insert(ws, 1500)
    ws.create_case("Ana Ma", 30, "female", "an ma")
    ws.archive_case(ws.create_case("Ana Mo", 31, "female").id)
    ws.create_case("Zoe Q", 32, "female")
    texts = ("a", "an", "AN", "an ma", "a m", "zo", "zz", "%", "_n")
    queries = [q for text in texts for q in (
        CaseQuery(search=text), CaseQuery(search=text, descending=False),
        CaseQuery(search=text, include_archived=True), CaseQuery(search=text, status="pending"))]
    for query in queries:
        full = ws.case_ids(query)
        for limit in (1, 256):
            assert ws.case_ids(query, limit=limit) == full[:limit], (query, limit)
    assert ("an", True) in walked and ("zo", True) in walked  # one match is a page of 1
    assert ("zz", False) in walked
    walked.clear()
    monkeypatch.setattr(workspace_module, "NAMES_WALKED", 5)  # the page is not among them
    for query in queries:
        assert ws.case_ids(query, limit=256) == ws.case_ids(query)[:256], query
    assert ("an", False) in walked
    walked.clear()
    assert ws.case_ids(CaseQuery(search="zo", sort="name"), limit=1)
    assert walked == [("zo", False)]  # only the list order has that index


def test_a_full_list_stops_once_overtaken_and_the_connection_reads_on(ws, monkeypatch):
    """A full id list asks as it goes (SQLite's progress handler, sorts included) whether a
    newer read took its place, and stops with Overtaken; the connection it used then reads
    the next list whole (the handler is gone)."""
    from tools.sample_data import bulk_insert

    monkeypatch.setattr(workspace_module, "OVERTAKEN_STEPS", 100)
    bulk_insert(ws, 2000)
    asked: list[int] = []

    def overtaken_now() -> bool:
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(workspace_module.Overtaken):
        ws.case_ids(CaseQuery(search="pain"), overtaken=overtaken_now)
    assert len(asked) == 5  # 4 asks, then the one after SQLite's "interrupted"
    full = ws.case_ids(CaseQuery(search="pain"))
    assert len(full) > 200
    assert ws.case_ids(CaseQuery(search="pain"), overtaken=lambda: False) == full
