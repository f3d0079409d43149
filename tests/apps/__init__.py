"""Small hand-written ASGI apps used by the test suite (importable as ``apps.<name>``)."""
