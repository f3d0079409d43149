"""Middleware: the declaration type, composition, function middleware and the security set."""

from armature.middleware.base import Middleware, compose
from armature.middleware.cors import CORSMiddleware
from armature.middleware.csrf import CSRFMiddleware
from armature.middleware.function import CallNext, FunctionMiddleware
from armature.middleware.https_redirect import HTTPSRedirectMiddleware
from armature.middleware.proxy_headers import ProxyHeadersMiddleware
from armature.middleware.request_id import RequestIdMiddleware
from armature.middleware.security_headers import SecurityHeadersMiddleware
from armature.middleware.sessions import SessionMiddleware
from armature.middleware.timeout import TimeoutMiddleware
from armature.middleware.trusted_host import TrustedHostMiddleware

__all__ = [
    "CORSMiddleware",
    "CSRFMiddleware",
    "CallNext",
    "FunctionMiddleware",
    "HTTPSRedirectMiddleware",
    "Middleware",
    "ProxyHeadersMiddleware",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "SessionMiddleware",
    "TimeoutMiddleware",
    "TrustedHostMiddleware",
    "compose",
]
