"""Dependency injection: a container keyed by type with singleton, request and transient scopes."""

from armature.di.container import Container, DependencyError, Inject, Provider, Scope
from armature.di.depends import Depends

__all__ = ["Container", "DependencyError", "Depends", "Inject", "Provider", "Scope"]
