"""Equal bytes on two server files are two documents; the plain-HTTP allowance of a profile.

- ``documents``: the unique (case_id, sha256) constraint becomes a plain index. A server may
  hold two files with the same bytes; each is a document that opens. (Attach still finds a
  duplicate within a case through the index.) SQLite drops a constraint only by rebuilding
  the table, and dropping the old table deletes what references it (pending uploads, ON
  DELETE CASCADE): those rows are kept aside and put back, all inside the migration's
  transaction.
- ``sync_meta.allow_plain_http``: the person allowed http:// to a server that is not on this
  computer, knowing that the token and patient data cross the network in clear.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_meta") as batch:
        batch.add_column(sa.Column("allow_plain_http", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.execute("CREATE TEMP TABLE kept_pending_changes AS SELECT * FROM pending_changes")
    with op.batch_alter_table("documents", recreate="always") as batch:
        batch.drop_constraint("uq_documents_case_id_sha256", type_="unique")
        batch.create_index("ix_documents_case_id_sha256", ["case_id", "sha256"])
    op.execute("DELETE FROM pending_changes")
    op.execute("INSERT INTO pending_changes SELECT * FROM kept_pending_changes")
    op.execute("DROP TABLE kept_pending_changes")


def downgrade() -> None:
    op.execute("CREATE TEMP TABLE kept_pending_changes AS SELECT * FROM pending_changes")
    with op.batch_alter_table("documents", recreate="always") as batch:
        batch.drop_index("ix_documents_case_id_sha256")
        batch.create_unique_constraint("uq_documents_case_id_sha256", ["case_id", "sha256"])
    op.execute("DELETE FROM pending_changes")
    op.execute("INSERT INTO pending_changes SELECT * FROM kept_pending_changes")
    op.execute("DROP TABLE kept_pending_changes")
    with op.batch_alter_table("sync_meta") as batch:
        batch.drop_column("allow_plain_http")
