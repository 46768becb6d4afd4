"""The audit trail: an append-only, hash-chained log of every view and change, inside the
encrypted cache.

- audit_log: one row per action (who: the operating-system user and the server account; when;
  what, with the field's value before and after for an edit); triggers refuse UPDATE and
  DELETE, so the only way to change it is to rewrite the file (which the chain then tells).
- audit_head: the last entry's id and chain, sealed with the audit key.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from desktop.models.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APPEND_ONLY = ("UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("document_id", sa.String(36), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("os_user", sa.String(200), nullable=False),
        sa.Column("account", sa.String(300), nullable=True),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_case_id"), "audit_log", ["case_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_chain", sa.String(64), nullable=False),
        sa.Column("seal", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    for what in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")


def downgrade() -> None:
    for what in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{what.lower()}")
    op.drop_table("audit_head")
    op.drop_index(op.f("ix_audit_log_case_id"), table_name="audit_log")
    op.drop_table("audit_log")
