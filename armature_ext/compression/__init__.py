"""HTTP compression for armature: zstd, brotli and gzip responses; decoded request bodies.

Needs the ``compression`` extra (``pip install armature[compression]``): brotli, and zstd from
``backports.zstd`` (``compression.zstd`` on Python 3.14+). Importing this package without them
raises :class:`ImportError` naming the extra.

Example:
    >>> from armature_ext.compression import CompressionMiddleware
    >>> # app.add_middleware(CompressionMiddleware, minimum_size=1024)
"""

from __future__ import annotations

# NOTE: _codecs imports _deps, which raises ImportError naming the extra when it is missing.
from ._codecs import DECODABLE, ENCODINGS
from ._media import DEFAULT_MEDIA_TYPES
from ._middleware import NO_COMPRESSION_ATTR, CompressionMiddleware, no_compression
from ._negotiation import Selection, parse_accept_encoding, select_encoding

__all__ = [
    "DECODABLE",
    "DEFAULT_MEDIA_TYPES",
    "ENCODINGS",
    "NO_COMPRESSION_ATTR",
    "CompressionMiddleware",
    "Selection",
    "no_compression",
    "parse_accept_encoding",
    "select_encoding",
]
