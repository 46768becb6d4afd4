"""What a conflict's resolution leaves readable, and the status an archived case had.

- conflicts.server_changed_at: when the server wrote the value in conflict (its updated_at),
  shown beside the choice.
- conflicts.resolved_value: the value kept ("mine", "theirs" or a merged text), so the case's
  history shows both what was kept and what was not.
- cases.status_before_archive: Unarchive puts the case back in the status it had.

Plain ADD COLUMN (no batch copy of the tables): the search triggers on ``cases`` stay.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conflicts", sa.Column("server_changed_at", sa.String(40), nullable=True))
    op.add_column("conflicts", sa.Column("resolved_value", sa.JSON(), nullable=True))
    op.add_column("cases", sa.Column("status_before_archive", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("cases", "status_before_archive")
    op.drop_column("conflicts", "resolved_value")
    op.drop_column("conflicts", "server_changed_at")
