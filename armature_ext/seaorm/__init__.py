"""SQLAlchemy 2 async ORM integration: active-record models, sessions, pagination, migrations.

Install with ``pip install armature[seaorm]``. See ``docs/seaorm.md``. ``install_seaorm`` and
``SeaOrmModule`` inject the ``Database`` and the request's ``AsyncSession`` into handlers.
Migrations and seeds live in :mod:`armature_ext.seaorm.migrations` (imported on demand: it loads
Alembic).
"""

from __future__ import annotations

from ._context import NoSessionError, bind_session, current_session
from .crud import crud_router
from .cursors import CursorSigner, InvalidCursor
from .database import Database
from .filters import SearchFilters
from .integration import SeaOrmModule, SessionCommitMiddleware, install_seaorm
from .middleware import DatabaseSessionMiddleware
from .model import ActiveModel, NotFound
from .pagination import CursorPage, Page
from .query import Query
from .schemas import schema_for

__all__ = [
    "ActiveModel",
    "CursorPage",
    "CursorSigner",
    "Database",
    "DatabaseSessionMiddleware",
    "InvalidCursor",
    "NoSessionError",
    "NotFound",
    "Page",
    "Query",
    "SeaOrmModule",
    "SearchFilters",
    "SessionCommitMiddleware",
    "bind_session",
    "crud_router",
    "current_session",
    "install_seaorm",
    "schema_for",
]
