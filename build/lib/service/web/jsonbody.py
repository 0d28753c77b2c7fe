"""Strict JSON request bodies: no NaN or Infinity, no lone UTF-16 surrogates.

Python's json module reads `NaN`, `Infinity`, `1e400` (as inf) and `"\\ud800"` (a str that no
UTF-8 encoder, JSON response or database accepts). Rejected here as a JSON error, they become a
422 on the API routes (``StrictJSONRoute``) and a 400 on the platform routes, instead of a
500 wherever the value is next encoded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

# A lone surrogate can only arrive escaped: raw UTF-8 cannot encode one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(body: bytes | str) -> Any:
    """``json.loads`` that raises ``json.JSONDecodeError`` for what JSON itself does not allow."""
    doc = body if isinstance(body, str) else body.decode()
    raw = body if isinstance(body, bytes) else body.encode()
    try:
        value = _DECODER.decode(doc)
        if _SURROGATE_ESCAPE.search(raw):
            _check_text(value)
    except _NotJSON as exc:
        raise json.JSONDecodeError(str(exc), doc, 0) from None
    return value


class _NotJSON(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotJSON(f"{text} is too large for a number")
    return number


# One decoder for every body: json.loads with hooks would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_finite)


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            raise _NotJSON("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is read with ``loads``: FastAPI turns its errors into a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handle(_StrictRequest(request.scope, request.receive))

        return strict
