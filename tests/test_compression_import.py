"""``armature_ext.compression`` is importable only with its extra, and says so when it is not."""

from __future__ import annotations

import subprocess
import sys

import pytest

_ZSTD_MODULE = "compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd"


def _import_without(module: str) -> subprocess.CompletedProcess[str]:
    # NOTE: sys.modules[name] = None makes "import name" raise ImportError, as if not installed.
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        "try:\n"
        "    import armature_ext.compression\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc.name, '|', exc, sep=' ')\n"
        "    raise SystemExit(3)\n"
        "print('imported')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("module", ["brotli", _ZSTD_MODULE])
def test_missing_dependency_names_the_extra(module: str) -> None:
    proc = _import_without(module)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "pip install armature[compression]" in proc.stdout
    assert f"ImportError {module} |" in proc.stdout
    assert repr(module) in proc.stdout


def test_imports_with_the_extra_installed() -> None:
    proc = _import_without("some_module_nobody_needs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "imported"


def test_public_api() -> None:
    import armature_ext.compression as pkg

    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    assert {"CompressionMiddleware", "no_compression", "DEFAULT_MEDIA_TYPES"} <= set(pkg.__all__)
    assert set(pkg.ENCODINGS) == {"gzip", "br", "zstd"}
    assert {"gzip", "zstd", "br"} <= pkg.DECODABLE
