"""An orjson-backed JSON serializer for opensearch-py (internal)."""

from __future__ import annotations

from typing import Any

import orjson
from opensearchpy.exceptions import SerializationError
from opensearchpy.serializer import JSONSerializer

# NOTE: OPT_NON_STR_KEYS keeps json.dumps' tolerance for int/enum dict keys.
_OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonSerializer(JSONSerializer):
    """opensearch-py's ``JSONSerializer`` on orjson: same types accepted, several times faster.

    Strings and bytes are passed through untouched (pre-serialized bodies), other values fall back
    to opensearch-py's ``default`` for the types orjson does not know (``Decimal``, numpy...).
    """

    def dumps(self, data: Any) -> Any:
        """Serialize ``data`` to JSON bytes (``str``/``bytes`` are returned as they are)."""
        if isinstance(data, str | bytes):
            return data
        try:
            # PERF: orjson encodes 5-10x faster than json.dumps; bytes go to the wire as is.
            return orjson.dumps(data, default=self.default, option=_OPTIONS)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise SerializationError(data, exc) from exc

    def loads(self, s: str) -> Any:
        """Parse a JSON response body."""
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError as exc:
            raise SerializationError(s, exc) from exc
