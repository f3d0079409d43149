"""Middleware: the declaration type, composition, and armature's own middlewares."""

from armature.middleware.base import Middleware, compose
from armature.middleware.function import CallNext, FunctionMiddleware

__all__ = ["CallNext", "FunctionMiddleware", "Middleware", "compose"]
