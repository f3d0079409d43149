"""Hot per-request classes keep ``__slots__``: no instance ``__dict__`` anywhere in their MRO."""

from __future__ import annotations

import pytest

from armature import (
    Headers,
    JSONResponse,
    PlainTextResponse,
    QueryParams,
    Request,
    Response,
    State,
    StreamingResponse,
    WebSocket,
)
from armature.connection import HTTPConnection
from armature.datastructures import Address
from armature.middleware.base import Middleware
from armature.middleware.function import FunctionMiddleware
from armature.routing._table import Leaf
from armature.state import AppState

SCOPE = {"type": "http", "path": "/", "headers": [], "query_string": b""}


async def _receive() -> dict:
    return {"type": "http.disconnect"}


async def _send(message: dict) -> None:
    return None


@pytest.mark.parametrize(
    "instance",
    [
        HTTPConnection(SCOPE),
        Request(SCOPE),
        WebSocket({**SCOPE, "type": "websocket"}, _receive, _send),
        Response(b""),
        PlainTextResponse("x"),
        JSONResponse({}),
        StreamingResponse(iter([b""])),
        Headers([]),
        QueryParams(b""),
        State({}),
        Address("h", 1),
        AppState(),
        Leaf("/"),
        Middleware(FunctionMiddleware),
        FunctionMiddleware(_send, dispatch=_send),  # type: ignore[arg-type]
    ],
    ids=lambda obj: type(obj).__name__,
)
def test_hot_classes_have_no_instance_dict(instance: object) -> None:
    assert not hasattr(instance, "__dict__"), type(instance).__name__
