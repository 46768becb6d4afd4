"""Made-up cases for screenshots, benchmarks and tests (no real person's data).

A developer tool, not part of the shipped app. Sample *files* (PDF, PNG, DICOM) are in
``desktop/ui/sample_files.py``: the packaged self-test needs them.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from desktop.models.tables import Case
from desktop.workspace import Workspace

FIRST = ["Amara", "Bruno", "Chen", "Dalia", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jana",
         "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
         "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zora"]
LAST = ["Abara", "Berger", "Castillo", "Dubois", "Eriksen", "Fontaine", "Gallo", "Haddad",
        "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrova",
        "Quist", "Rossi", "Sato", "Tanaka", "Urban", "Varga", "Weber", "Xu", "Young", "Zeller"]
NOTES = ["Persistent cough for three weeks, no fever.", "Follow-up after fracture of the left radius.",
         "Chest pain on exertion; ECG normal.", "Routine check, elevated blood pressure.",
         "Headache and blurred vision since Monday.", "Abdominal pain, lower right quadrant.",
         "Shortness of breath, history of asthma.", "Rash on both forearms after new medication."]
STATUSES = ["pending", "processing", "analyzing", "completed", "completed", "failed", "archived"]
SYNC = ["synced"] * 6 + ["pending", "pending", "conflict", "error", "removed_remotely"]
SYNC_ERRORS = {"error": "The server refused the change: patient_age must be an integer.",
               "conflict": None, "removed_remotely": None}

INSIGHTS: dict[str, Any] = {
    "comprehensive_summary": "Adult patient with a three-week productive cough and mild "
                             "dyspnoea. Chest X-ray shows a right lower lobe opacity; "
                             "CRP is raised (48 mg/L).",
    "key_findings": ["Right lower lobe consolidation on chest X-ray",
                     "CRP 48 mg/L, leukocytes 12.1 × 10⁹/L", "SpO₂ 95% on room air"],
    "soap_subjective": "Cough with yellow sputum for 3 weeks, tired, mild breathlessness on stairs.",
    "soap_objective": "T 37.9 °C, RR 20, crackles right base. CXR: RLL opacity.",
    "soap_assessment": "Community-acquired pneumonia, right lower lobe, CURB-65 score 0.",
    "soap_plan": "Amoxicillin 1 g three times daily for 5 days; review in 48 hours; "
                 "repeat X-ray in 6 weeks.",
    "primary_diagnosis": "Community-acquired pneumonia",
    "icd_code": "J18.1",
    "diagnosis_confidence_score": 0.87,
    "overall_confidence_score": 0.82,
    "generated_at": "2026-11-20T14:05:00Z",
}


def fake_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        sync = rng.choice(SYNC)
        when = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        rows.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "server_id": None if sync == "pending" else f"srv-{i}",
            "patient_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "patient_age": rng.randint(0, 99),
            "patient_gender": rng.choice(["female", "male", "female", "male", "other"]),
            "case_summary": rng.choice(NOTES),
            "status": rng.choice(STATUSES),
            "created_at": when,
            "updated_at": when,
            "sync_state": sync,
            "sync_error": SYNC_ERRORS.get(sync),
            "detail_stale": False,
        })
    return rows


def bulk_insert(ws: Workspace, count: int, seed: int = 7) -> None:
    """Insert many cases in one transaction, straight through the table (no outbox rows)."""
    rows = fake_rows(count, seed)
    with ws.transaction() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(Case.__table__), rows[start : start + 5000])
