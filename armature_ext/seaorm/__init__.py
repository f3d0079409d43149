"""SQLAlchemy 2 async ORM integration: active-record models, sessions, pagination, migrations.

Install with ``pip install armature[seaorm]``. See ``docs/seaorm.md``.
"""

from __future__ import annotations

from ._context import NoSessionError, bind_session, current_session
from .cursors import CursorSigner, InvalidCursor
from .database import Database
from .middleware import DatabaseSessionMiddleware
from .model import ActiveModel, NotFound
from .pagination import CursorPage, Page
from .query import Query

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
    "bind_session",
    "current_session",
]
