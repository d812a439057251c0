"""Faults of a broken or hostile server, which a client must bound and contain.

A real provider (or a proxy in front of one) can drip a body a byte at a time, never end
it, redirect in a loop, echo the API key in an error, or send well-formed JSON whose fields
have the wrong types.  Each is one request's error for the harness, never a hung run, a
stored secret or a bogus token count; these faults let the tests show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .wire import JSON_HEADERS, RequestRecord, drop, error_body, json_response

#: "drip" and "drip:<sec per byte>" (a valid answer sent one byte at a time, default 0.5 s
#: apart), "endless" (a chunked body that never ends), "redirect_loop" (302 to the same URL),
#: "echo_key" (401 whose message repeats the Authorization header received; applies after
#: the key check, so send the right key), "badfield:<name>" (one field broken, see below).
HOSTILE_KINDS = frozenset({"drip", "endless", "redirect_loop", "echo_key", "badfield"})
#: "badfield:<name>": a normal answer with one field made ill-typed or out of range.
BAD_FIELDS = frozenset(
    {
        "prompt_tokens_str",  # usage.prompt_tokens = "ten"
        "content_int",  # message.content = 42
        "content_list",  # message.content = [{"type": "text", "text": ...}]
        "content_null",  # message.content = null
        "tokens_negative",  # usage.prompt_tokens = -5
        "tokens_huge",  # usage.completion_tokens = 10**30
        "tokens_nan",  # usage.prompt_tokens = NaN (a bare NaN literal in the JSON)
        "tokens_inf",  # usage.completion_tokens = Infinity
        "tokens_bool",  # usage.prompt_tokens = true
        "no_choices",  # choices = []
        "no_usage",  # no usage object at all (valid: servers may omit it)
    }
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def apply_hostile(
    request: web.Request,
    rec: RequestRecord,
    kind: str,
    param: float | str | None,
    handler: Handler,
    closing: asyncio.Event,
) -> web.StreamResponse:
    """Faults of a broken or hostile server, which a client must bound and contain."""
    if kind == "redirect_loop":
        rec.status = 302
        return web.Response(
            status=302, headers={"Location": request.path_qs, "x-request-id": rec.request_id}
        )
    if kind == "echo_key":  # applies after the key check: the key echoed is the right one
        auth = request.headers.get("Authorization", "")
        token = auth.partition(" ")[2] or auth
        msg = f"Incorrect API key provided: {token}. (Authorization: {auth})"
        body = error_body(msg, "invalid_request_error", None, "invalid_api_key")
        return json_response(rec, body, 401)
    if kind == "endless":
        return await _endless(request, rec, closing)
    resp = await handler(request)
    if not isinstance(resp, web.Response) or resp.status != 200:
        return resp  # errors pass unchanged
    assert isinstance(resp.body, bytes)
    if kind == "badfield":
        obj = json.loads(resp.body)
        _break_field(obj, str(param))
        resp.body = json.dumps(obj).encode()  # json, not orjson: NaN and 10**30 survive
        return resp
    return await _drip(request, rec, resp.body, 0.5 if param is None else float(param), closing)


async def _drip(
    request: web.Request, rec: RequestRecord, body: bytes, delay: float, closing: asyncio.Event
) -> web.StreamResponse:
    """Send a valid answer one byte at a time: each read is quick, the whole is slow."""
    resp = web.StreamResponse(status=200, headers=_headers(rec))
    resp.content_length = len(body)
    await resp.prepare(request)
    rec.status = 200
    with contextlib.suppress(ConnectionResetError):  # the client gave up
        for i in range(len(body)):
            await resp.write(body[i : i + 1])
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(closing.wait(), delay)
            if closing.is_set():
                break
        else:
            await resp.write_eof()
            return resp
    drop(request, rec)


async def _endless(
    request: web.Request, rec: RequestRecord, closing: asyncio.Event
) -> web.StreamResponse:
    """A chunked JSON body that never ends, as fast as the client reads it."""
    resp = web.StreamResponse(status=200, headers=_headers(rec))
    resp.enable_chunked_encoding()
    rec.status = 200
    await resp.prepare(request)
    await resp.write(b'{"id": "chatcmpl-endless", "object": "chat.completion", "choices": [')
    filler = b" " * 65536
    with contextlib.suppress(ConnectionResetError):  # the client gave up
        while not closing.is_set():
            await resp.write(filler)
            await asyncio.sleep(0)
    drop(request, rec)


def _headers(rec: RequestRecord) -> dict[str, str]:
    return dict(JSON_HEADERS, **{"x-request-id": rec.request_id})


def _break_field(obj: dict[str, Any], name: str) -> None:
    """Make one field of a chat completion ill-typed or out of range (see BAD_FIELDS)."""
    message, usage = obj["choices"][0]["message"], obj["usage"]
    if name == "no_choices":
        obj["choices"] = []
    elif name == "no_usage":
        del obj["usage"]
    elif name.startswith("content_"):
        broken = {"int": 42, "list": [{"type": "text", "text": message["content"]}], "null": None}
        message["content"] = broken[name.removeprefix("content_")]
    else:
        field, value = {  # the field and its broken value
            "prompt_tokens_str": ("prompt_tokens", "ten"),
            "tokens_negative": ("prompt_tokens", -5),
            "tokens_huge": ("completion_tokens", 10**30),
            "tokens_nan": ("prompt_tokens", float("nan")),
            "tokens_inf": ("completion_tokens", float("inf")),
            "tokens_bool": ("prompt_tokens", True),
        }[name]
        usage[field] = value
