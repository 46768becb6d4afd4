"""Proves the reference server keeps the dialect-1 contract, its quirks and every fault switch.

Plain httpx against the real subprocess: if these pass, client tests can trust the server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.control import ReferenceServer

DOC1 = {"Authorization": "Bearer token-doctor-1"}
DOC2 = {"Authorization": "Bearer token-doctor-2"}
INT_422 = {
    "type": "int_parsing",
    "msg": "Input should be a valid integer, unable to parse string as an integer",
}


@pytest.fixture
def client(reference_server: ReferenceServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=reference_server.url, headers=DOC1, timeout=10.0) as http:
        yield http


def create(
    http: httpx.Client,
    name: str = "Ann Example",
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    **extra: Any,
) -> httpx.Response:
    data = {"user_id": "doctor-1", "patient_name": name, "patient_age": "41",
            "patient_gender": "female", **extra}
    return http.post("/cases/create_case", data=data, files=files or [])


def new_case(http: httpx.Client, name: str = "Ann Example") -> dict[str, Any]:
    response = create(http, name)
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()["case"]
    return case


# -- routes ------------------------------------------------------------------------------------


def test_create_case_with_files_and_read_it_back(client: httpx.Client) -> None:
    files = [
        ("lab_files", ("blood.pdf", b"%PDF-1 blood", "application/pdf")),
        ("lab_files", ("urine.csv", b"a,b\n1,2\n", "text/csv")),
        ("radiology_files", ("chest.png", b"\x89PNG xray", "image/png")),
    ]
    response = create(client, files=files, case_summary="cough")
    assert response.status_code == 201
    body = response.json()
    case = body["case"]
    assert body["message"]
    assert case["status"] == "pending"
    assert case["user_id"] == "doctor-1" and case["case_summary"] == "cough"
    assert case["patient_age"] == 41 and "id" not in case
    assert case["created_at"] == case["updated_at"] and "." in case["updated_at"]
    assert [f["file_category"] for f in body["uploaded_files"]] == ["lab", "lab", "radiology"]

    detail = client.get(f"/cases/cases/{case['case_id']}").json()
    assert detail["case"] == case
    assert "ai_insights" not in detail
    assert [f["file_name"] for f in detail["files"]] == ["blood.pdf", "urine.csv", "chest.png"]
    png = detail["files"][2]
    assert png["file_size"] == len(b"\x89PNG xray") and png["file_type"] == "image/png"
    assert png["file_url"].startswith("/files/") and "uploaded_at" in png
    assert client.get(png["file_url"]).content == b"\x89PNG xray"


def test_create_case_validation_is_fastapi_style(client: httpx.Client) -> None:
    response = client.post(
        "/cases/create_case", data={"user_id": "doctor-1", "patient_age": "old"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    by_field = {item["loc"][-1]: item["type"] for item in detail}
    assert by_field == {"patient_name": "missing", "patient_age": "int_parsing",
                        "patient_gender": "missing"}
    assert all(item["loc"][0] == "body" and item["msg"] for item in detail)


def test_all_cases_lists_own_cases_newest_first(
    client: httpx.Client, reference_server: ReferenceServer
) -> None:
    first, second = new_case(client, "First"), new_case(client, "Second")
    reference_server.create_case("doctor-2", patient_name="Other")
    cases = client.get("/cases/all_cases", params={"user_id": "doctor-1"}).json()["cases"]
    assert [c["case_id"] for c in cases] == [second["case_id"], first["case_id"]]
    assert client.get("/cases/all_cases").status_code == 422
    other = client.get("/cases/all_cases", params={"user_id": "doctor-2"})
    assert other.status_code == 403


def test_update_case(client: httpx.Client) -> None:
    case = new_case(client)
    url = f"/cases/cases/{case['case_id']}"
    response = client.put(url, json={"case_summary": "better", "status": None,
                                     "patient_gender": "male", "patient_age": 42})
    assert response.status_code == 200
    updated = response.json()["case"]
    assert updated["case_summary"] == "better" and updated["patient_age"] == 42
    assert updated["status"] == "pending" and updated["patient_gender"] == "female"
    assert updated["updated_at"] > case["updated_at"]
    assert updated["created_at"] == case["created_at"]
    again = client.put(url, json={"status": "archived"}).json()["case"]
    assert again["updated_at"] > updated["updated_at"]

    for empty in ({}, {"status": None}):
        response = client.put(url, json=empty)
        assert (response.status_code, response.json()) == (
            400, {"detail": "No data provided for update"})
    assert client.put(url).status_code == 400
    missing = client.put("/cases/cases/does-not-exist", json={"status": "x"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Case not found"})


def test_upload_list_get_and_delete_files(client: httpx.Client) -> None:
    case = new_case(client)
    case_id = case["case_id"]
    assert client.get(f"/cases/files/{case_id}").json() == {"files": []}
    uploaded = []
    for name, data, mime in (("a.pdf", b"A" * 3000, "application/pdf"),
                             ("b.dcm", b"DICM", "application/dicom")):
        response = client.post("/cases/upload", data={"case_id": case_id},
                               files={"file": (name, data, mime)})
        assert response.status_code == 201
        file = response.json()["file"]
        assert "file_category" not in file
        assert file["case_id"] == case_id and file["file_size"] == len(data)
        uploaded.append(file)
    listed = client.get(f"/cases/files/{case_id}").json()["files"]
    assert [f["file_id"] for f in listed] == [f["file_id"] for f in uploaded]
    assert [f["file_category"] for f in listed] == ["lab", "radiology"]

    one = client.get(f"/cases/file/{uploaded[0]['file_id']}").json()["file"]
    assert one == listed[0]
    assert client.get(one["file_url"]).content == b"A" * 3000

    gone = client.delete(f"/cases/file/{one['file_id']}", params={"case_id": case_id})
    assert gone.status_code == 200 and gone.json()["message"]
    assert client.get(f"/cases/file/{one['file_id']}").status_code == 404
    assert client.get(one["file_url"]).status_code == 404
    again = client.delete(f"/cases/file/{one['file_id']}", params={"case_id": case_id})
    assert again.status_code == 404
    assert client.post("/cases/upload", data={"case_id": "nope"},
                       files={"file": ("x.txt", b"x", "text/plain")}).status_code == 404


def test_delete_case_removes_files(client: httpx.Client, reference_server: ReferenceServer) -> None:
    response = create(client, files=[("lab_files", ("l.pdf", b"L", "application/pdf"))])
    case_id = response.json()["case"]["case_id"]
    file_url = response.json()["uploaded_files"][0]["file_url"]
    deleted = client.delete(f"/cases/cases/{case_id}")
    assert deleted.status_code == 200 and deleted.json()["message"]
    assert client.get(f"/cases/cases/{case_id}").json() == {"detail": "Case not found"}
    assert client.delete(f"/cases/cases/{case_id}").status_code == 404
    assert client.get(file_url).status_code == 404
    assert reference_server.cases() == []


def test_auth_and_ownership(client: httpx.Client, reference_server: ReferenceServer) -> None:
    case = new_case(client)
    case_id = case["case_id"]
    assert httpx.get(f"{reference_server.url}/cases/cases/{case_id}").status_code == 401
    bad = client.get(f"/cases/cases/{case_id}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["detail"]

    base = reference_server.url
    for response in (
        httpx.get(f"{base}/cases/cases/{case_id}", headers=DOC2),
        httpx.put(f"{base}/cases/cases/{case_id}", headers=DOC2, json={"status": "x"}),
        httpx.get(f"{base}/cases/files/{case_id}", headers=DOC2),
        httpx.post(f"{base}/cases/upload", headers=DOC2, data={"case_id": case_id},
                   files={"file": ("x.txt", b"x", "text/plain")}),
        httpx.delete(f"{base}/cases/cases/{case_id}", headers=DOC2),
    ):
        assert (response.status_code, response.json()) == (404, {"detail": "Case not found"})
    assert httpx.get(f"{base}/cases/all_cases", params={"user_id": "doctor-2"},
                     headers=DOC2).json() == {"cases": []}

    reference_server.add_user("token-new", "doctor-1")
    same = httpx.get(f"{base}/cases/cases/{case_id}", headers={"Authorization": "Bearer token-new"})
    assert same.status_code == 200


# -- admin -------------------------------------------------------------------------------------


def test_admin_state_access(client: httpx.Client, reference_server: ReferenceServer) -> None:
    case = new_case(client)
    case_id = case["case_id"]
    edited = reference_server.edit_case(case_id, patient_gender="male", status="completed")
    assert edited["updated_at"] > case["updated_at"] and edited["patient_gender"] == "male"
    seen = client.get(f"/cases/cases/{case_id}").json()
    assert seen["case"]["status"] == "completed"

    insights = {"comprehensive_summary": "ok", "key_findings": ["x"],
                "overall_confidence_score": 0.9}
    reference_server.set_insights(case_id, insights)
    assert client.get(f"/cases/cases/{case_id}").json()["ai_insights"] == insights

    added = reference_server.add_file(case_id, "scan.png", b"png!", "image/png", "radiology")
    assert reference_server.files(case_id) == [added]
    assert client.get(added["file_url"]).content == b"png!"

    [row] = reference_server.cases("doctor-1")
    assert row["id"] >= 1 and row["user_id"] == "doctor-1"
    reference_server.delete_case(case_id)
    assert client.get(f"/cases/cases/{case_id}").status_code == 404
    assert client.get("/cases/all_cases", params={"user_id": "doctor-1"}).json() == {"cases": []}


def test_seed_many_cases(client: httpx.Client, reference_server: ReferenceServer) -> None:
    ids = reference_server.seed_cases("doctor-1", 10_000)
    assert len(set(ids)) == 10_000
    cases = client.get("/cases/all_cases", params={"user_id": "doctor-1"}).json()["cases"]
    assert len(cases) == 10_000 and cases[0]["case_id"] == ids[-1]


def test_reset_wipes_everything(client: httpx.Client, reference_server: ReferenceServer) -> None:
    new_case(client)
    reference_server.add_user("t", "u")
    reference_server.set_quirks(field_names="deployed")
    reference_server.fail_next(5)
    reference_server.reset()
    assert reference_server.cases() == [] and reference_server.faults() == []
    assert reference_server.requests() == []
    assert client.get("/cases/all_cases", params={"user_id": "doctor-1"}).status_code == 200
    assert client.get("/cases/all_cases", params={"user_id": "u"},
                      headers={"Authorization": "Bearer t"}).status_code == 401


# -- quirks ------------------------------------------------------------------------------------


def test_deployed_field_names_and_numeric_id(
    client: httpx.Client, reference_server: ReferenceServer
) -> None:
    reference_server.set_quirks(field_names="deployed", numeric_id=True)
    response = create(client, files=[("lab_files", ("l.pdf", b"L", "application/pdf"))])
    body = response.json()
    case = body["case"]
    assert case["doctor_id"] == "doctor-1" and "user_id" not in case
    assert isinstance(case["id"], int)
    file = body["uploaded_files"][0]
    assert "upload_date" in file and "uploaded_at" not in file
    listed = client.get("/cases/all_cases", params={"user_id": "doctor-1"}).json()["cases"]
    assert listed == [case]


def test_int_ids_quirk(client: httpx.Client, reference_server: ReferenceServer) -> None:
    case = new_case(client)
    case_id = case["case_id"]
    reference_server.set_quirks(int_ids=True)
    put = client.put(f"/cases/cases/{case_id}", json={"status": "x"})
    files = client.get(f"/cases/files/{case_id}")
    upload = client.post("/cases/upload", data={"case_id": case_id},
                         files={"file": ("x.txt", b"x", "text/plain")})
    for response, loc in ((put, ["path", "case_id"]), (files, ["path", "case_id"]),
                          (upload, ["body", "case_id"])):
        assert response.status_code == 422
        [item] = response.json()["detail"]
        assert item["loc"] == loc and item["input"] == case_id
        assert {k: item[k] for k in INT_422} == INT_422
    assert reference_server.files(case_id) == []
    # Routes that take the UUID keep working; the int routes find the case by numeric id.
    assert client.get(f"/cases/cases/{case_id}").status_code == 200
    row_id = reference_server.cases()[0]["id"]
    assert client.put(f"/cases/cases/{row_id}", json={"status": "done"}).status_code == 200
    uploaded = client.post("/cases/upload", data={"case_id": str(row_id)},
                           files={"file": ("x.txt", b"x", "text/plain")})
    assert uploaded.status_code == 201
    assert len(client.get(f"/cases/files/{row_id}").json()["files"]) == 1
    assert client.get("/cases/files/99999").status_code == 404
    assert reference_server.case(case_id)["case"]["status"] == "done"


# -- faults ------------------------------------------------------------------------------------


def test_fail_before_work_stores_nothing(
    client: httpx.Client, reference_server: ReferenceServer
) -> None:
    reference_server.fail_next(2, status=503, retry_after=7, path="/cases/create_case")
    for _ in range(2):
        response = create(client)
        assert response.status_code == 503 and response.headers["retry-after"] == "7"
        assert response.json()["detail"]
    assert reference_server.cases() == []
    assert create(client).status_code == 201


def test_fail_after_work_is_an_unknown_outcome(
    client: httpx.Client, reference_server: ReferenceServer
) -> None:
    reference_server.fail_next(1, after_work=True, method="POST")
    assert client.get("/cases/all_cases", params={"user_id": "doctor-1"}).status_code == 200
    response = create(client)
    assert response.status_code == 500
    assert response.json()["detail"].startswith("Internal server error")
    assert len(reference_server.cases("doctor-1")) == 1


def test_method_and_path_filters(client: httpx.Client, reference_server: ReferenceServer) -> None:
    case = new_case(client)
    reference_server.fail_next(1, path="/cases/files/", method="GET")
    assert client.get(f"/cases/cases/{case['case_id']}").status_code == 200
    assert client.get(f"/cases/files/{case['case_id']}").status_code == 500
    assert client.get(f"/cases/files/{case['case_id']}").status_code == 200


def test_delay_makes_a_client_time_out(
    client: httpx.Client, reference_server: ReferenceServer
) -> None:
    reference_server.delay(4.0, path="/cases/create_case", n=1, after_work=True)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/cases/create_case", timeout=1.0, data={
            "user_id": "doctor-1", "patient_name": "A", "patient_age": "1",
            "patient_gender": "f"})
    # The work was done before the delay: the client's timeout is an unknown outcome.
    for _ in range(100):
        if reference_server.cases():
            break
        time.sleep(0.05)
    assert len(reference_server.cases()) == 1
    assert reference_server.faults() == []
    assert [r["fault"] for r in reference_server.requests()] == ["delay"]
    assert create(client).status_code == 201


def test_drop_after_body_closes_without_response(
    client: httpx.Client, reference_server: ReferenceServer
) -> None:
    reference_server.drop_after_body(1, path="/cases/upload")
    case = new_case(client)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/cases/upload", data={"case_id": case["case_id"]},
                    files={"file": ("x.txt", b"payload", "text/plain")})
    assert [f["file_name"] for f in reference_server.files(case["case_id"])] == ["x.txt"]
    assert client.get(f"/cases/files/{case['case_id']}").status_code == 200
    dropped = [r for r in reference_server.requests() if r["path"] == "/cases/upload"]
    assert dropped == [{**dropped[0], "status": None, "fault": "drop"}]


def test_truncate_cuts_the_body(client: httpx.Client, reference_server: ReferenceServer) -> None:
    reference_server.truncate_next(1, path="/cases/create_case")
    response = create(client)
    assert response.status_code == 201
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert response.content.startswith(b'{"message"')
    assert len(reference_server.cases()) == 1


def test_unauthorized_next(client: httpx.Client, reference_server: ReferenceServer) -> None:
    reference_server.unauthorized_next(2)
    for _ in range(2):
        response = client.get("/cases/all_cases", params={"user_id": "doctor-1"})
        assert response.status_code == 401 and response.json()["detail"]
    assert client.get("/cases/all_cases", params={"user_id": "doctor-1"}).status_code == 200


def test_request_log(client: httpx.Client, reference_server: ReferenceServer) -> None:
    case = new_case(client)
    client.get("/cases/cases/nope")
    reference_server.fail_next(1)
    client.get(f"/cases/cases/{case['case_id']}")
    log = [(r["method"], r["path"], r["status"], r["fault"]) for r in reference_server.requests()]
    assert log == [
        ("POST", "/cases/create_case", 201, None),
        ("GET", "/cases/cases/nope", 404, None),
        ("GET", f"/cases/cases/{case['case_id']}", 500, "status-500"),
    ]


def test_update_null_is_ignored_and_empty_string_is_applied(
    client: httpx.Client, reference_server: ReferenceServer
) -> None:
    """API.md: null fields are ignored (alone: 400); "" is a value and is stored. The
    `empty_ignored` quirk drops "" as well, as a backend testing `if value:` would."""
    case = new_case(client)
    url = f"/cases/cases/{case['case_id']}"
    client.put(url, json={"case_summary": "a note"})
    alone = client.put(url, json={"case_summary": None})
    assert (alone.status_code, alone.json()) == (400, {"detail": "No data provided for update"})
    beside = client.put(url, json={"case_summary": None, "status": "processing"}).json()["case"]
    assert (beside["case_summary"], beside["status"]) == ("a note", "processing")
    cleared = client.put(url, json={"case_summary": ""}).json()["case"]
    assert cleared["case_summary"] == ""
    client.put(url, json={"case_summary": "a note"})
    reference_server.set_quirks(empty_ignored=True)
    assert client.put(url, json={"case_summary": ""}).status_code == 400
    kept = client.put(url, json={"case_summary": "", "status": "completed"}).json()["case"]
    assert (kept["case_summary"], kept["status"]) == ("a note", "completed")


def test_hold_keeps_a_request_until_released(
    client: httpx.Client, reference_server: ReferenceServer
) -> None:
    import threading

    case = new_case(client)
    rule = reference_server.hold(path="/cases/cases/", method="PUT")
    answers: list[int] = []
    url = f"{reference_server.url}/cases/cases/{case['case_id']}"
    sender = threading.Thread(target=lambda: answers.append(
        httpx.put(url, headers=DOC1, json={"status": "late"}, timeout=30).status_code))
    sender.start()
    reference_server.wait_held(rule)
    assert reference_server.case(case["case_id"])["case"]["status"] == "pending"  # no work yet
    client.put(f"/cases/cases/{case['case_id']}", json={"status": "first"})  # not held: n=1
    reference_server.release(rule)
    sender.join(30)
    assert answers == [200]
    assert reference_server.case(case["case_id"])["case"]["status"] == "late"
