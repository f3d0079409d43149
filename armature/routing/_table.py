"""The compiled route table: a dict for static paths and a segment tree for dynamic ones.

Lookup cost depends on the request path's length, not on how many routes there are, and needs no
cache. Built once at startup from the flattened route declarations; immutable afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from armature.exceptions import problem_body
from armature.routing.converters import Converter
from armature.routing.routes import RouteDefinitionError, Segment
from armature.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Leaf", "RouteTable", "path_below_root"]


def path_below_root(path: str, root: str | None) -> str:
    """The request path below the mount point (ASGI 3: ``path`` includes ``root_path``).

    NOTE: the HTTP dispatcher inlines the same lines on its hot path.
    """
    if root and path.startswith(root):
        rest = path[len(root) :]
        if not rest:
            return "/"
        if rest[0] == "/":
            return rest
    return path


class Leaf:
    """The end of a path: its method table and the parameter names each method's route uses."""

    __slots__ = ("allow", "labels", "methods", "names", "not_allowed", "template")

    def __init__(self, template: str) -> None:
        self.template = template
        self.methods: dict[str, ASGIApp] = {}
        self.names: dict[str, tuple[str, ...]] = {}
        self.labels: dict[str, str] = {}
        self.allow = b""
        self.not_allowed: ASGIApp = _unset_endpoint

    def add(self, method: str, endpoint: ASGIApp, names: tuple[str, ...], label: str) -> None:
        """Register ``endpoint`` for ``method``; a second route for the same method is an error."""
        if method in self.methods:
            raise RouteDefinitionError(
                f"{label} duplicates {self.labels[method]}: both answer {method} {self.template}"
            )
        self.methods[method] = endpoint
        self.names[method] = names
        self.labels[method] = label

    def finish(self, automatic_options: bool) -> None:
        """Add automatic HEAD (from GET) and OPTIONS, and build the 405 responder."""
        if "GET" in self.methods and "HEAD" not in self.methods:
            self.methods["HEAD"] = _head_of(self.methods["GET"])
            self.names["HEAD"] = self.names["GET"]
        if automatic_options and "OPTIONS" not in self.methods:
            allowed = sorted({*self.methods, "OPTIONS"})
            self.methods["OPTIONS"] = _options_responder(", ".join(allowed).encode("latin-1"))
            self.names["OPTIONS"] = next(iter(self.names.values()), ())
        self.allow = ", ".join(sorted(self.methods)).encode("latin-1")
        self.not_allowed = _method_not_allowed(self.allow)


async def _unset_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("route table used before it was finished")


def _head_of(get_endpoint: ASGIApp) -> ASGIApp:
    async def head(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            elif message["type"] == "http.response.pathsend":
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await get_endpoint(scope, receive, send_without_body)

    return head


def _options_responder(allow: bytes) -> ASGIApp:
    async def options(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
        await send({"type": "http.response.body", "body": b""})

    return options


def _method_not_allowed(allow: bytes) -> ASGIApp:
    body = problem_body(405, "Method not allowed; see the Allow header")
    length = b"%d" % len(body)

    async def not_allowed(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 405,
                "headers": [
                    (b"allow", allow),
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", length),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return not_allowed


class _Node:
    __slots__ = ("dynamic", "leaf", "static", "tail")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.dynamic: list[tuple[Converter, _Node]] = []
        self.tail: tuple[Converter, Leaf] | None = None
        self.leaf: Leaf | None = None


class RouteTable:
    """Static paths in a dict, dynamic paths in a segment tree."""

    __slots__ = ("leaves", "root", "static")

    def __init__(self) -> None:
        self.static: dict[str, Leaf] = {}
        self.root = _Node()
        self.leaves: list[Leaf] = []

    def leaf_for(self, template: str, segments: list[Segment]) -> Leaf:
        """Return (creating it) the leaf for a parsed path."""
        if all(s.name is None for s in segments):
            leaf = self.static.get(template)
            if leaf is None:
                leaf = self.static[template] = Leaf(template)
                self.leaves.append(leaf)
            return leaf
        node = self.root
        for segment in segments:
            converter = segment.converter
            if converter is None:
                node = node.static.setdefault(segment.text, _Node())
            elif converter.name == "path":
                if node.tail is None:
                    node.tail = (converter, Leaf(template))
                    self.leaves.append(node.tail[1])
                return node.tail[1]
            else:
                for existing, child in node.dynamic:
                    if existing.name == converter.name:
                        node = child
                        break
                else:
                    child = _Node()
                    node.dynamic.append((converter, child))
                    node.dynamic.sort(key=lambda pair: pair[0].priority)
                    node = child
        if node.leaf is None:
            node.leaf = Leaf(template)
            self.leaves.append(node.leaf)
        return node.leaf

    def match(self, path: str) -> tuple[Leaf, list[Any]] | None:
        """Find the leaf for a concrete path and the converted parameter values, in path order.

        Args:
            path: The request path below the mount point, starting with ``/``.

        Returns:
            ``(leaf, values)`` or None.
        """
        segments = path.split("/")
        values: list[Any] = []
        leaf = _walk(self.root, segments, 1, len(segments), values)
        if leaf is None:
            return None
        return leaf, values

    def finish(self, automatic_options: bool = True) -> None:
        """Finish every leaf (automatic HEAD/OPTIONS, 405 responders)."""
        for leaf in self.leaves:
            leaf.finish(automatic_options)


def _walk(
    node: _Node, segments: list[str], index: int, count: int, values: list[Any]
) -> Leaf | None:
    # PERF: static children first (one dict lookup), then converters by priority; backtracking only
    # happens when a branch dead-ends, which route tables rarely make it do.
    if index == count:
        return node.leaf
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        found = _walk(child, segments, index + 1, count, values)
        if found is not None:
            return found
    if segment:
        for converter, child in node.dynamic:
            try:
                value = converter.convert(segment)
            except ValueError:
                continue
            values.append(value)
            found = _walk(child, segments, index + 1, count, values)
            if found is not None:
                return found
            values.pop()
    if node.tail is not None:
        converter, leaf = node.tail
        values.append(converter.convert("/".join(segments[index:])))
        return leaf
    return None


Matcher = Callable[[str], "tuple[Leaf, list[Any]] | None"]
