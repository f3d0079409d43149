"""Retrying transactions that lost a serialization race.

Under ``SERIALIZABLE`` (and ``REPEATABLE READ``) isolation PostgreSQL aborts one of two
conflicting transactions with SQLSTATE ``40001``; a deadlock aborts one with ``40P01``. The
correct response is to run the whole transaction again, which :func:`retry_serializable` does
with exponential backoff and jitter.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from armature_ext.diesel.errors import SerializationFailure

__all__ = ["RETRYABLE_SQLSTATES", "retry_serializable"]

_T = TypeVar("_T")

logger = logging.getLogger("armature_ext.diesel")

#: SQLSTATEs that mean "run the transaction again".
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


async def retry_serializable(
    fn: Callable[[], Awaitable[_T]],
    attempts: int = 5,
    backoff: float = 0.02,
    *,
    max_backoff: float = 1.0,
    jitter: bool = True,
) -> _T:
    """Run ``fn`` and run it again when it fails with a serialization failure or deadlock.

    ``fn`` must do the whole unit of work, transaction included, so every attempt starts fresh:

    .. code-block:: python

        async def transfer() -> None:
            async with pool.transaction(isolation="serializable") as conn:
                ...

        await retry_serializable(transfer, attempts=5)

    Args:
        fn: A zero-argument coroutine function performing the transaction.
        attempts: Total tries, at least 1.
        backoff: The delay before the second try; it doubles each time.
        max_backoff: The cap on a single delay.
        jitter: Randomize each delay between half and the full value, so conflicting clients
            do not retry in lockstep.

    Returns:
        What ``fn`` returned on the first successful try.

    Raises:
        SerializationFailure: The last try failed too (other errors propagate at once).
        ValueError: ``attempts`` is below 1 or a delay is negative.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    if backoff < 0 or max_backoff < 0:
        raise ValueError("backoff and max_backoff must not be negative")
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except SerializationFailure as exc:
            if attempt == attempts:
                raise
            delay = min(max_backoff, backoff * (2 ** (attempt - 1)))
            if jitter:
                delay = delay / 2 + random.random() * delay / 2  # jitter, not crypto
            logger.debug(
                "serialization failure (SQLSTATE %s), attempt %d/%d, retrying in %.3fs",
                exc.sqlstate,
                attempt,
                attempts,
                delay,
            )
            await anyio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
