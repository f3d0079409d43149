"""diesel: a thin, typed layer over asyncpg, psycopg 3 and aiosqlite connection pools.

Install with ``pip install armature[diesel]``. See ``docs/diesel.md``.
"""

from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.errors import (
    ConfigError,
    DatabaseUnavailable,
    DieselError,
    IntegrityError,
    ParameterError,
    PoolClosed,
    PoolTimeout,
    QueryError,
    SerializationFailure,
    TransactionError,
)

__all__ = [
    "ConfigError",
    "DatabaseConfig",
    "DatabaseUnavailable",
    "DieselError",
    "IntegrityError",
    "ParameterError",
    "PoolClosed",
    "PoolTimeout",
    "QueryError",
    "SerializationFailure",
    "TransactionError",
]
