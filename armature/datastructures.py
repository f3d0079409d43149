"""Request-side data structures: headers, query parameters, URL, and request state.

All of them are lazy views over the ASGI scope: nothing is parsed until it is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["URL", "Address", "Headers", "MutableHeaders", "QueryParams", "State", "parse_query"]

_FORBIDDEN_HEADER_BYTES = frozenset(b"\r\n\x00")


def check_header_value(name: bytes, value: bytes) -> None:
    """Refuse a header name or value that could split the response.

    Args:
        name: The header name as bytes.
        value: The header value as bytes.

    Raises:
        ValueError: CR, LF or NUL in either, or an empty name, or spaces or colons in it.
    """
    # NOTE: CR/LF/NUL would let a value smuggle a second header or a body into the response.
    if (
        not name
        or b"\r" in name
        or b"\n" in name
        or b"\x00" in name
        or b":" in name
        or b" " in name
    ):
        raise ValueError(f"invalid header name {name!r}")
    if b"\r" in value or b"\n" in value or b"\x00" in value:
        raise ValueError(f"invalid header value for {name.decode('latin-1')!r}: CR, LF or NUL")


def encode_header(name: str | bytes, value: str | bytes) -> tuple[bytes, bytes]:
    """Encode and check a header pair for an ASGI response.

    Args:
        name: Header name (lower-cased on the wire).
        value: Header value (latin-1 encodable when a str).

    Returns:
        The ``(name, value)`` byte pair.
    """
    raw_name = (name if isinstance(name, bytes) else name.encode("latin-1")).lower()
    raw_value = value if isinstance(value, bytes) else value.encode("latin-1")
    check_header_value(raw_name, raw_value)
    return raw_name, raw_value


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-value, read-only view of ASGI header pairs.

    ``headers["accept"]`` returns the first value; :meth:`getlist` returns all of them.

    Args:
        raw: The ASGI ``(name, value)`` byte pairs (names lower-case, as servers send them).
    """

    __slots__ = ("raw",)

    def __init__(self, raw: Sequence[tuple[bytes, bytes]] | None = None) -> None:
        self.raw: Sequence[tuple[bytes, bytes]] = raw if raw is not None else []

    def get(self, key: str, default: Any = None) -> Any:
        """Return the first value for ``key`` (case-insensitive), or ``default``."""
        name = key.lower().encode("latin-1")
        for k, v in self.raw:
            if k == name:
                return v.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return str(value)

    def getlist(self, key: str) -> list[str]:
        """Return every value for ``key`` in order (case-insensitive)."""
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.raw if k == name]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = key.lower().encode("latin-1")
        return any(k == name for k, _ in self.raw)

    def __iter__(self) -> Iterator[str]:
        seen: set[bytes] = set()
        for k, _ in self.raw:
            if k not in seen:
                seen.add(k)
                yield k.decode("latin-1")

    def __len__(self) -> int:
        return len({k for k, _ in self.raw})

    def items(self) -> Any:
        """Return every ``(name, value)`` pair, repeated names included."""
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.items()!r})"


class MutableHeaders(Headers):
    """Response headers: case-insensitive, multi-value, and checked against header injection.

    Args:
        raw: The list of byte pairs to edit in place.
    """

    __slots__ = ()
    raw: list[tuple[bytes, bytes]]

    def __init__(self, raw: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(raw if raw is not None else [])

    def __setitem__(self, key: str, value: str) -> None:
        name, raw_value = encode_header(key, value)
        kept = [(k, v) for k, v in self.raw if k != name]
        kept.append((name, raw_value))
        self.raw[:] = kept

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        self.raw[:] = [(k, v) for k, v in self.raw if k != name]

    def append(self, key: str, value: str) -> None:
        """Add a value, keeping existing ones (for ``Set-Cookie``, ``Vary``...)."""
        self.raw.append(encode_header(key, value))

    def setdefault(self, key: str, value: str) -> str:
        """Set ``key`` unless present; return the value in effect."""
        existing = self.get(key)
        if existing is None:
            self.append(key, value)
            return value
        return str(existing)

    def add_vary(self, value: str) -> None:
        """Merge ``value`` into the ``Vary`` header without duplicating entries."""
        current = [v.strip() for v in ",".join(self.getlist("vary")).split(",") if v.strip()]
        if value.lower() not in (v.lower() for v in current):
            current.append(value)
        self["vary"] = ", ".join(current)


def parse_query(query_string: bytes | str) -> list[tuple[str, str]]:
    """Parse an ``application/x-www-form-urlencoded`` query string into ordered pairs.

    Args:
        query_string: The raw query (bytes from the ASGI scope, or a str).

    Returns:
        ``(name, value)`` pairs, percent- and plus-decoded as UTF-8; blank names are dropped.
    """
    text = (
        query_string.decode("utf-8", "replace") if isinstance(query_string, bytes) else query_string
    )
    pairs: list[tuple[str, str]] = []
    for chunk in text.split("&"):
        if not chunk:
            continue
        name, _, value = chunk.partition("=")
        # PERF: unquote only what needs it; most query strings are plain ASCII.
        if "%" in chunk or "+" in chunk:
            name = unquote_plus(name, errors="replace")
            value = unquote_plus(value, errors="replace")
        if name:
            pairs.append((name, value))
    return pairs


class QueryParams(Mapping[str, str]):
    """Multi-value query parameters: ``params["q"]`` is the last value, :meth:`getlist` all of them.

    Args:
        query: The raw query string, or already parsed pairs.
    """

    __slots__ = ("_dict", "_list")

    def __init__(self, query: bytes | str | Sequence[tuple[str, str]] = b"") -> None:
        self._list: list[tuple[str, str]] = (
            parse_query(query) if isinstance(query, bytes | str) else list(query)
        )
        self._dict = dict(self._list)

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[str]:
        """Return every value given for ``key``, in order."""
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Return all pairs in their original order."""
        return list(self._list)

    def __repr__(self) -> str:
        return f"QueryParams({self._list!r})"


class Address:
    """A network peer ``(host, port)``.

    Args:
        host: The peer host.
        port: The peer port.
    """

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __iter__(self) -> Iterator[Any]:
        return iter((self.host, self.port))

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, Address | tuple) else False

    def __hash__(self) -> int:
        return hash((self.host, self.port))

    def __repr__(self) -> str:
        return f"Address(host={self.host!r}, port={self.port!r})"


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class URL(str):
    """The request URL built from the ASGI scope (scheme, server, root_path, path, query).

    NOTE: it is never rebuilt from the client's ``Host`` header: a client controls that header, so
    a URL built from it could point anywhere. Validate ``Host`` with ``TrustedHostMiddleware``.
    """

    __slots__ = ()

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any], *, with_query: bool = True) -> URL:
        """Build the URL of ``scope``.

        Args:
            scope: An ASGI http or websocket scope.
            with_query: Include the query string.

        Returns:
            The absolute URL as a str subclass.
        """
        scheme = scope.get("scheme", "http")
        server = scope.get("server")
        path = scope.get("path", "/")
        root_path = scope.get("root_path", "")
        if root_path and not path.startswith(root_path):
            path = root_path + path
        if server:
            host, port = server[0], server[1]
            if port is None or _DEFAULT_PORTS.get(scheme) == port:
                netloc = host
            else:
                netloc = f"{host}:{port}"
            url = f"{scheme}://{netloc}{path}"
        else:
            url = path
        query = scope.get("query_string", b"")
        if with_query and query:
            url += "?" + query.decode("latin-1")
        return cls(url)


class State:
    """Attribute access over a dict, used for ``request.state``.

    ``request.state`` reads and writes ``scope["state"]``, which ASGI servers fill with a shallow
    copy of the lifespan state for every request.

    Args:
        data: The backing dict (kept, not copied).
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_data", data if data is not None else {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"state has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._data[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def get(self, name: str, default: Any = None) -> Any:
        """Return ``name`` or ``default``."""
        return self._data.get(name, default)

    def as_dict(self) -> dict[str, Any]:
        """Return the backing dict."""
        data: dict[str, Any] = self._data
        return data

    def __repr__(self) -> str:
        return f"State({self._data!r})"
