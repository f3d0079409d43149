"""Import the third-party codecs behind the ``compression`` extra, failing with a clear message.

brotli comes from the ``brotli`` package; zstd from the standard library's ``compression.zstd`` on
Python 3.14+ and from the ``backports.zstd`` package on older interpreters. Both are declared by
``pip install armature[compression]``.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["BROTLI_BOUNDED_OUTPUT", "EXTRA_HINT", "brotli", "zstd"]

EXTRA_HINT = "pip install armature[compression]"


def _missing(module: str) -> ImportError:
    return ImportError(
        f"armature_ext.compression needs the optional module {module!r}, which is not installed; "
        f"install the 'compression' extra: {EXTRA_HINT}",
        name=module,
    )


try:
    import brotli as _brotli
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise _missing("brotli") from exc

try:
    if sys.version_info >= (3, 14):  # pragma: no cover - depends on the interpreter
        from compression import zstd as _zstd
    else:
        from backports import zstd as _zstd
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    name = "compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd"
    raise _missing(name) from exc

# NOTE: brotli ships without type information; expose it as ``Any`` on purpose.
brotli: Any = _brotli
zstd = _zstd


def _brotli_bounded_output() -> bool:
    """Whether ``brotli.Decompressor.process`` takes ``output_buffer_limit`` (brotli >= 1.2)."""
    try:
        brotli.Decompressor().process(b"", output_buffer_limit=1)
    except TypeError:
        return False
    except brotli.error:  # pragma: no cover - an empty chunk is valid input
        return True
    return True


# NOTE: without a bounded output call a brotli request body cannot be decoded safely (a few bytes
# may expand to gigabytes in one call), so br request decompression is only offered when the
# installed brotli has it.
BROTLI_BOUNDED_OUTPUT = _brotli_bounded_output()
