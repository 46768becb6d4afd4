"""The cache's newest schema revision, importable without SQLAlchemy or Alembic.

The window's start reads the first page of cases straight from the cache file before the data
layer loads, and must know whether the file is at the schema it understands.
"""

from __future__ import annotations

# The newest migration; a test keeps it equal to the scripts' head.
HEAD_REVISION = "0010"
