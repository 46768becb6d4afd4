"""Alembic environment: runs against the connection the app hands in (never a URL in a file).

``database.migrate`` opens that connection's transaction itself (an explicit BEGIN, so that
DDL is inside it): every step and the revision stamp commit together, or none of them.
"""

from __future__ import annotations

from alembic import context

from desktop.models.tables import Base, is_modelled

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations are run by desktop.models.database, not from a URL")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, include_object=is_modelled,
                      transactional_ddl=True, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


run()
