"""The apps the benchmark knows: the raw baseline, armature, and the peers.

Each app is a module exposing ``make_app(n_routes: int) -> ASGI app`` (a fresh instance with
``n_routes`` numbered routes ``/r/a{i}/b{i}``), optionally ``VERSION`` (shown in the output) and
``FEATURES`` (the optional case features it implements, see ``cases.Case.feature``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["APPS", "BASELINE", "DEFAULT_APPS", "PEER_APPS", "TARGET", "AppSpec"]


@dataclass(frozen=True, slots=True)
class AppSpec:
    """Where an app lives.

    Args:
        name: The column name.
        module: The importable module exposing ``make_app``.
    """

    name: str
    module: str


BASELINE = "raw"
TARGET = "armature"  # the app the budgets apply to

APPS: dict[str, AppSpec] = {
    spec.name: spec
    for spec in (
        AppSpec("raw", "loadtests.raw_app"),
        AppSpec("armature", "loadtests.armature_app"),
        AppSpec("starlette", "loadtests.starlette_app"),
        AppSpec("fastapi", "loadtests.peers.fastapi_app"),
        AppSpec("litestar", "loadtests.peers.litestar_app"),
        AppSpec("blacksheep", "loadtests.peers.blacksheep_app"),
        AppSpec("falcon", "loadtests.peers.falcon_app"),
    )
}

# `make bench`: the baseline and armature only.
DEFAULT_APPS: tuple[str, ...] = ("raw", "armature")
# `--peers`: every other app, measured when importable.
PEER_APPS: tuple[str, ...] = ("starlette", "fastapi", "litestar", "blacksheep", "falcon")
