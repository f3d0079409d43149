"""Websocket routes: planning each route's endpoint and dispatching websocket connections.

Websocket routes are compiled into their own route table at startup, like HTTP routes, and bound
with the same parameter binding and dependency injection; the app's pure ASGI middleware applies.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from armature._param_binding import plan_call
from armature.di.container import request_cleanup
from armature.exceptions import HTTPException, problem_body
from armature.routing._table import RouteTable, path_below_root
from armature.routing.routes import FlatRoute, RouteDefinitionError
from armature.types import ASGIApp, Receive, Scope, Send
from armature.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from armature.app import App

__all__ = ["build_websocket_dispatch", "plan_websocket"]

logger = logging.getLogger("armature.error")
_PROBLEM_TYPE = "application/problem+json"


def plan_websocket(app: App, flat: FlatRoute, path_names: frozenset[str], label: str) -> ASGIApp:
    """Compile a websocket route: its parameter binder and the endpoint around the handler."""
    route = flat.route
    try:
        bind, specs = plan_call(
            route.endpoint,
            path_names=path_names,
            resolvers=app.param_resolvers,
            max_body_size=app.limits.max_body_size,
            app=app,
            localns=route.localns,
            extra_hints=route.extra.get("hints"),
        )
    except (TypeError, ValueError) as exc:
        raise RouteDefinitionError(f"{label}: {exc}") from exc
    if any(spec.source == "body" for spec in specs):
        raise RouteDefinitionError(f"{label}: a websocket handler cannot take a request body")
    handler = route.endpoint

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send, app)
        scope["armature.websocket"] = websocket
        try:
            try:
                kwargs = await bind(scope, receive)
            except HTTPException as exc:
                await websocket.deny(
                    exc.status_code,
                    orjson.dumps(exc.to_problem(instance=scope.get("path"))),
                    media_type="application/problem+json",
                )
                return
            await handler(**kwargs)
        except WebSocketDisconnect:
            pass
        except HTTPException as exc:
            if websocket.application_state == "connecting":
                await websocket.deny(
                    exc.status_code,
                    orjson.dumps(exc.to_problem(instance=scope.get("path"))),
                    media_type="application/problem+json",
                )
            else:
                await websocket.close(1008, exc.detail)
        except Exception:
            logger.exception("unhandled error in websocket %s", scope.get("path"))
            if websocket.application_state == "connecting":
                await websocket.deny(500, problem_body(500), media_type=_PROBLEM_TYPE)
            else:
                await websocket.close(1011)
        finally:
            await request_cleanup(scope)
        if websocket.application_state == "connecting":
            # NOTE: the handler returned without accepting: refuse the handshake.
            await websocket.deny(403, problem_body(403), media_type=_PROBLEM_TYPE)
        elif websocket.application_state == "connected":
            await websocket.close(1000)

    return endpoint


def build_websocket_dispatch(app: App, table: RouteTable) -> ASGIApp:
    """The websocket dispatcher over the compiled websocket table and the mounts."""
    static = table.static
    match = table.match
    mounts = [(m.path, m.path + "/", m.app) for m in app._mounts]

    async def dispatch_websocket(scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path")
        path = path_below_root(scope["path"], root)
        leaf = static.get(path)
        if leaf is None:
            found = match(path)
            if found is not None:
                leaf, values = found
                scope["path_params"] = dict(zip(leaf.names["WEBSOCKET"], values, strict=True))
        if leaf is not None:
            await leaf.methods["WEBSOCKET"](scope, receive, send)
            return
        for prefix, prefix_slash, mounted in mounts:
            if not prefix or path == prefix or path.startswith(prefix_slash):
                child = dict(scope)
                child["root_path"] = (root or "") + prefix
                await mounted(child, receive, send)
                return
        # NOTE: no such websocket route: close before accepting (servers answer 403).
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008})

    return dispatch_websocket
