"""Routing: declarations (``Router``, ``Route``, ``Mount``), converters and the compiled table."""

from armature.routing.converters import Converter, register_converter
from armature.routing.routes import Mount, Route, RouteDefinitionError, Router

__all__ = ["Converter", "Mount", "Route", "RouteDefinitionError", "Router", "register_converter"]
