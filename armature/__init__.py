"""armature: a fast, pure-ASGI web framework.

Routes, handler plans and middleware chains are compiled once at startup; a request is a dict lookup
(or a short tree walk), one pre-built callable and two ``send`` calls.
"""

from armature.app import App, NoMatchFound
from armature.background import BackgroundTasks
from armature.datastructures import URL, Headers, MutableHeaders, QueryParams, State
from armature.di import Container, DependencyError, Depends, Inject, Scope
from armature.exceptions import HTTPException, RequestValidationError
from armature.forms import FormData, UploadFile
from armature.limits import LimitExceeded, Limits
from armature.middleware.base import Middleware
from armature.modules import Application, controller, injectable, module, provide
from armature.params import Body, Cookie, File, Form, Header, Path, Query
from armature.requests import Request
from armature.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from armature.routing import (
    Converter,
    Mount,
    Route,
    RouteDefinitionError,
    Router,
    register_converter,
)
from armature.sse import EventSourceResponse, ServerSentEvent
from armature.state import AppState
from armature.staticfiles import StaticFiles
from armature.websockets import WebSocket, WebSocketDisconnect

__version__ = "0.1.0"

__all__ = [
    "URL",
    "App",
    "Application",
    "AppState",
    "BackgroundTasks",
    "Body",
    "Container",
    "DependencyError",
    "Depends",
    "Inject",
    "Scope",
    "Converter",
    "Cookie",
    "EventSourceResponse",
    "File",
    "FileResponse",
    "Form",
    "FormData",
    "HTMLResponse",
    "HTTPException",
    "Header",
    "Headers",
    "JSONResponse",
    "LimitExceeded",
    "Limits",
    "Middleware",
    "Mount",
    "MutableHeaders",
    "NoMatchFound",
    "Path",
    "PlainTextResponse",
    "Query",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "RequestValidationError",
    "Response",
    "Route",
    "RouteDefinitionError",
    "Router",
    "ServerSentEvent",
    "State",
    "StaticFiles",
    "StreamingResponse",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "__version__",
    "controller",
    "injectable",
    "module",
    "provide",
    "register_converter",
]
