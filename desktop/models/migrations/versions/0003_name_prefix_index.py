"""Case-insensitive index on patient name, for one- and two-letter searches.

Words too short for the trigram index match the start of the patient's name; with a NOCASE
index SQLite answers `patient_name LIKE 'sm%'` from the index instead of scanning every case.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_cases_name_nocase ON cases (patient_name COLLATE NOCASE)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_cases_name_nocase")
