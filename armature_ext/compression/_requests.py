"""Streaming decompression of request bodies with a decoded-size limit."""

from __future__ import annotations

from armature.exceptions import BadRequest, HTTPException, PayloadTooLarge
from armature.types import Message, Receive

from ._codecs import DecodeError, Decoder

__all__ = ["READ_CHUNK", "DecodingReceive"]

#: Largest decoded chunk handed to the application in one ``http.request`` message.
READ_CHUNK = 64 * 1024


class DecodingReceive:
    """Wrap ``receive`` so the application sees the decoded request body, chunk by chunk.

    Each call decodes at most :data:`READ_CHUNK` bytes, so memory stays bounded whatever the
    compression ratio. Exceeding ``limit`` raises :class:`~armature.exceptions.PayloadTooLarge`
    and corrupt or truncated data raises :class:`~armature.exceptions.BadRequest`; the error is
    also kept in :attr:`error` so the middleware can answer with it if the application lets it
    propagate.

    Args:
        receive: The server's ``receive``.
        decoder: The decoder for the request's content coding.
        limit: The largest decoded body accepted, or ``None`` for no limit.
    """

    __slots__ = ("_decoder", "_done", "_input_done", "_limit", "_receive", "_total", "error")

    def __init__(self, receive: Receive, decoder: Decoder, limit: int | None) -> None:
        self._receive = receive
        self._decoder = decoder
        self._limit = limit
        self._total = 0
        self._input_done = False
        self._done = False
        self.error: HTTPException | None = None

    def _fail(self, error: HTTPException) -> HTTPException:
        self.error = error
        return error

    async def __call__(self) -> Message:
        """Return the next ``http.request`` message with decoded bytes (or a pass-through one).

        Returns:
            An ASGI message.

        Raises:
            PayloadTooLarge: The decoded body exceeds the limit.
            BadRequest: The body is not valid data for its content coding.
        """
        if self.error is not None:
            raise self.error
        if self._done:
            return await self._receive()
        limit = self._limit
        while True:
            try:
                out = self._decoder.read(READ_CHUNK)
            except DecodeError as exc:
                raise self._fail(
                    BadRequest(detail=f"The request body could not be decoded: {exc}")
                ) from exc
            if out:
                self._total += len(out)
                if limit is not None and self._total > limit:
                    raise self._fail(
                        PayloadTooLarge(
                            detail=f"The decompressed request body exceeds {limit} bytes."
                        )
                    )
                return {"type": "http.request", "body": out, "more_body": True}
            if self._input_done:
                try:
                    self._decoder.close()
                except DecodeError as exc:
                    raise self._fail(
                        BadRequest(detail=f"The request body could not be decoded: {exc}")
                    ) from exc
                self._done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await self._receive()
            if message["type"] != "http.request":
                return message  # NOTE: http.disconnect and the like pass through untouched
            self._decoder.feed(message.get("body", b""))
            if not message.get("more_body", False):
                self._input_done = True
