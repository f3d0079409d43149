"""Make sure the local services a test suite needs are up, starting them when they are not.

The machine runs PostgreSQL (127.0.0.1:5432, trust auth, database ``test``) and Redis
(127.0.0.1:6379). A suite that needs one calls :func:`ensure_postgres` / :func:`ensure_redis`
from a fixture; when the service cannot be started the test is skipped with the reason (never
silently passed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
REDIS_PORT = 6379


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_port(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return True
        time.sleep(0.2)
    return False


def ensure_postgres() -> str:
    """Return the DSN of the local ``test`` database, starting PostgreSQL if it is down."""
    dsn = os.environ.get("ARMATURE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    if not _port_open(POSTGRES_HOST, POSTGRES_PORT):
        if shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
            for version in sorted(os.listdir("/etc/postgresql")):
                subprocess.run(
                    ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                    check=False,
                    capture_output=True,
                )
        if not _wait_port(POSTGRES_HOST, POSTGRES_PORT, 30):
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 and could not be started")
    return dsn


def ensure_redis() -> str:
    """Return the URL of the local Redis, starting it if it is down."""
    if not _port_open("127.0.0.1", REDIS_PORT):
        if shutil.which("redis-server"):
            subprocess.run(
                [
                    "redis-server",
                    "--daemonize",
                    "yes",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    "6379",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                check=False,
                capture_output=True,
            )
        if not _wait_port("127.0.0.1", REDIS_PORT, 15):
            pytest.skip("Redis is not running on 127.0.0.1:6379 and could not be started")
    return "redis://127.0.0.1:6379/0"
