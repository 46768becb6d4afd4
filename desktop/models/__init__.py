"""SQLAlchemy tables and the cache's engine; Alembic migrations live in ``migrations/``."""
