"""Shared pytest fixtures: anyio tests run on asyncio and on trio unless a module narrows it."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test once per event loop backend."""
    return str(request.param)
