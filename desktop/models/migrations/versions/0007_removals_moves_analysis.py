"""Removals that wait for the server, moves between cases, analyses asked for here, and the
patient a DICOM file names.

- cases.removed_at / documents.removed_at: a deletion made here that has not reached the
  server yet. The row stays (a tombstone): a pull cannot bring it back, its stored file is
  kept, and it can be restored until the server has done it. Lists leave such rows out.
- documents.moved_to_id: this document was moved to that one; its removal from the server
  waits until the copy is on the target case there.
- cases.analysis_requested_at: when an analysis was asked for here (shown until it ends).
- documents.dicom_patient_name / dicom_patient_id: the patient a DICOM header names, to
  warn when it is not the case's patient.
- ix_cases_list_order gains removed_at, so the list (which leaves deleted cases out) is still
  read from the one covering index.

Plain ADD COLUMN (no batch copy of the tables): the search triggers on ``cases`` stay.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import desktop.models.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = desktop.models.tables.UTCDateTime
    op.add_column("cases", sa.Column("removed_at", when(), nullable=True))
    op.add_column("cases", sa.Column("analysis_requested_at", when(), nullable=True))
    op.add_column("documents", sa.Column("removed_at", when(), nullable=True))
    op.add_column("documents", sa.Column("moved_to_id", sa.String(36), nullable=True))
    op.add_column("documents", sa.Column("dicom_patient_name", sa.String(200), nullable=True))
    op.add_column("documents", sa.Column("dicom_patient_id", sa.String(64), nullable=True))
    op.drop_index("ix_cases_list_order", table_name="cases")
    op.create_index("ix_cases_list_order", "cases", ["updated_at", "id", "status", "removed_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_list_order", table_name="cases")
    op.create_index("ix_cases_list_order", "cases", ["updated_at", "id", "status"])
    with op.batch_alter_table("documents") as batch:
        for name in ("dicom_patient_id", "dicom_patient_name", "moved_to_id", "removed_at"):
            batch.drop_column(name)
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("analysis_requested_at")
        batch.drop_column("removed_at")
