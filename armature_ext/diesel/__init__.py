"""diesel: a thin, typed layer over asyncpg, psycopg 3 and aiosqlite connection pools.

Install with ``pip install armature[diesel]``; see ``docs/diesel.md``. One placeholder style
(``$1``, ``$2``...) on every backend, rows as dicts, transactions with savepoints, typed errors
that render as ``503`` when the database is unavailable. asyncio only.
"""

from armature_ext.diesel.config import DatabaseConfig
from armature_ext.diesel.connection import ISOLATION_LEVELS, Connection, Isolation, Row, Transaction
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
from armature_ext.diesel.integration import (
    DatabaseModule,
    TransactionConnection,
    TransactionMiddleware,
    install_database,
)
from armature_ext.diesel.pool import Pool, PoolStatus, create_pool
from armature_ext.diesel.provider import DatabaseProvider
from armature_ext.diesel.retry import retry_serializable

__all__ = [
    "ISOLATION_LEVELS",
    "ConfigError",
    "Connection",
    "DatabaseConfig",
    "DatabaseModule",
    "DatabaseProvider",
    "DatabaseUnavailable",
    "DieselError",
    "IntegrityError",
    "Isolation",
    "ParameterError",
    "Pool",
    "PoolClosed",
    "PoolStatus",
    "PoolTimeout",
    "QueryError",
    "Row",
    "SerializationFailure",
    "Transaction",
    "TransactionConnection",
    "TransactionError",
    "TransactionMiddleware",
    "create_pool",
    "install_database",
    "retry_serializable",
]
