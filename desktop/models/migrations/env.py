"""Alembic environment: runs against the connection the app hands in (never a URL in a file)."""

from __future__ import annotations

from alembic import context

from desktop.models.tables import Base, is_modelled

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = config.attributes.get("engine")
        if engine is None:
            raise RuntimeError("migrations are run by desktop.models.database, not from a URL")
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=True, include_object=is_modelled)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, include_object=is_modelled)
    with context.begin_transaction():
        context.run_migrations()


run()
