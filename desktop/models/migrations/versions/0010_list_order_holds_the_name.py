"""The list-order index holds the patient's name too.

A search for the start of a name (one or two letters) read every name with that start from
the NOCASE name index (0009) and sorted them by list order for the first page: at a million
cases, 50,000 entries for a letter starting one name in twenty, ~4 MB decrypted the first
time (20-35 ms). With the name in the list-order index, the first page walks that index
newest first and stops after a few thousand entries, never visiting the table (~2 ms). The
full list still reads through the name index. The index grows by the names (~15 MB at a
million cases); a write maintains as many indexes as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_cases_list_order")
    op.execute("CREATE INDEX ix_cases_list_order "
               "ON cases (updated_at, id, status, removed_at, patient_name)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_cases_list_order")
    op.execute("CREATE INDEX ix_cases_list_order ON cases (updated_at, id, status, removed_at)")
