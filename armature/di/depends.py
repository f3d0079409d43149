"""``Depends``: a function whose result is injected, with its own parameters bound like a handler's.

```python
from typing import Annotated
from armature import App, Depends, Header

app = App()

def current_user(x_user: Annotated[str, Header()]) -> str:
    return x_user

@app.get("/me")
async def me(user: Annotated[str, Depends(current_user)]) -> dict:
    return {"user": user}
```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Depends"]


class Depends:
    """Inject the result of ``dependency``, resolved once per request (unless ``use_cache=False``).

    The dependency's own parameters are bound like a handler's: request sources (path, query,
    header, cookie, body, ``Request``), container providers and other ``Depends``. Generator
    dependencies run their code after ``yield`` once the response has been sent.

    Args:
        dependency: A function (sync, async, generator or async generator).
        use_cache: Share one result between every use within a request.
    """

    __slots__ = ("dependency", "use_cache")

    def __init__(self, dependency: Callable[..., Any], *, use_cache: bool = True) -> None:
        self.dependency = dependency
        self.use_cache = use_cache

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        return f"Depends({name})"
