"""A static site with an API next to it: ``StaticFiles`` mounted twice.

Run it any of these ways::

    granian --interface asgi examples.static_site:app
    uvicorn examples.static_site:app
    hypercorn examples.static_site:app

- ``/api/health`` is an ordinary route (routes are tried before mounts).
- ``/assets/...`` serves ``examples/static/assets`` with precompressed ``.br``/``.gz`` siblings and
  an hour of caching.
- everything else serves ``examples/static`` in ``html`` mode: ``/`` and ``/about/`` answer with
  their ``index.html``, ``/about`` redirects to ``/about/``, misses get ``404.html``.
"""

from __future__ import annotations

from pathlib import Path

from armature import App
from armature.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"

app = App()


@app.get("/api/health")
async def health() -> dict[str, str]:
    """A route living next to the static files."""
    return {"status": "ok"}


app.mount(
    "/assets",
    StaticFiles(
        directory=STATIC / "assets", precompressed=True, cache_control="public, max-age=3600"
    ),
)
app.mount("", StaticFiles(directory=STATIC, html=True))
