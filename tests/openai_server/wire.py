"""What every endpoint shares: the JSON codec, OpenAI error bodies and the request log entry.

Kept apart from the server class so the endpoint modules (faults, chat, jobs) build their
responses the same way, and fill in the current request's log entry, without importing it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from aiohttp import web

try:  # optional speed-up: the benchmarks measure the server's CPU beside the client's
    import orjson as _orjson  # type: ignore[import-not-found, unused-ignore]

    def dumps(obj: Any) -> bytes:
        return bytes(_orjson.dumps(obj))

    loads: Callable[[bytes], Any] = _orjson.loads
    JSON_ERRORS: tuple[type[Exception], ...] = (ValueError, _orjson.JSONDecodeError)
except ImportError:  # pragma: no cover - depends on environment
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def dumps(obj: Any) -> bytes:
        return _encoder.encode(obj).encode("utf-8")

    loads = json.loads
    JSON_ERRORS = (ValueError, UnicodeDecodeError)

JSON_HEADERS = {"Content-Type": "application/json"}
#: Named in rate-limit messages and in fine-tuning jobs, as the real API does.
ORGANIZATION_ID = "org-harness"


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI error object: the client reads ``code`` and ``type`` to classify it."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class ApiError(Exception):
    """Raised inside handlers to produce an OpenAI-style error response."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type_, param, code)


class RequestRecord:
    """One entry of the request log, which tests read to count what the harness asked.

    ``status`` is filled in when the response is decided (``None`` for a dropped or
    abandoned request, e.g. a hang the client gave up on).  ``messages`` is the parsed
    ``messages`` list of a chat request (a private copy: the server never mutates it).
    """

    __slots__ = ("time", "method", "path", "model", "messages", "fault", "status", "request_id")

    def __init__(self, time_: float, method: str, path: str, request_id: str) -> None:
        self.time = time_
        self.method = method
        self.path = path
        self.request_id = request_id
        self.model: str | None = None
        self.messages: list[Any] | None = None
        self.fault: str | None = None
        self.status: int | None = None

    @property
    def messages_hash(self) -> str | None:
        """Stable short hash (sha256, 16 hex chars) of the request's messages."""
        if self.messages is None:
            return None
        data = json.dumps(self.messages, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"RequestRecord({self.method} {self.path} model={self.model!r} "
            f"fault={self.fault!r} status={self.status!r})"
        )


#: The current request's log entry and parsed JSON body, set by the server's middleware.
REC_KEY = web.RequestKey("fake_openai_rec", RequestRecord)
JSON_KEY: web.RequestKey[Any] = web.RequestKey("fake_openai_json", object)


def json_response(
    rec: RequestRecord,
    obj: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON response; the log entry ``rec`` records its status and lends its request id."""
    hdrs = dict(JSON_HEADERS, **{"x-request-id": rec.request_id})
    rec.status = status
    if headers:
        hdrs.update(headers)
    return web.Response(body=dumps(obj), status=status, headers=hdrs)


def drop(request: web.Request, rec: RequestRecord) -> NoReturn:
    """Close the connection without an answer (the log entry keeps status None)."""
    rec.status = None
    transport = request.transport
    if transport is not None:
        transport.close()
    raise asyncio.CancelledError  # aiohttp treats this as a gone client: no response
