"""armature: a fast, pure-ASGI web framework."""
