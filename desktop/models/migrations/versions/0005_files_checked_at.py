"""When each case's file list was last checked with the server.

A file attached on another workstation does not change the case's ``updated_at`` on the
server, so the pull cannot tell; a sync checks the file lists of recently active cases in
turn, the longest unchecked first, and the case view says when its list was last checked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import desktop.models.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("files_checked_at", desktop.models.tables.UTCDateTime(),
                                     nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("files_checked_at")
