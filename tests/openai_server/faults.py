"""Fault injection: which request gets which fault, and what the ordinary faults send.

The runner's retry, backoff and abort logic is only tested if a server fails on demand, so
the faults a real provider shows are here (rate limits with Retry-After, quota, 5xx, hangs,
bodies that are not JSON, dropped connections), chosen by a schedule, a seeded rate or a
hook, for chat completions only unless ``fault_paths`` says otherwise (the fine-tuning tests
fail job creation).  So is ``usage_override``: token counts that differ from the estimate,
which a budget must survive.  The faults of a hostile server are in :mod:`.hostile`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import threading
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from .hostile import BAD_FIELDS, HOSTILE_KINDS, Handler, apply_hostile
from .wire import JSON_HEADERS, ORGANIZATION_ID, RequestRecord, drop, error_body, json_response

#: Fault kinds understood by the server.  "ok" (or None) in a schedule means "no fault".
#: "429" and "hang" accept a parameter: "429:2.5" (Retry-After seconds), "hang:0.3" (seconds);
#: so does "drip:0.5" (seconds per byte); "badfield:<name>" needs one of BAD_FIELDS.
FAULT_KINDS = HOSTILE_KINDS | {"429", "500", "503", "hang", "malformed", "drop", "quota", "400"}
#: What a random fault rate draws from by default: the transient faults a client retries
#: (not the hostile ones, which would make a rate-based run slow or fail by design).
RANDOM_FAULT_KINDS = frozenset({"429", "500", "503", "malformed", "drop", "quota", "400"})
_PARAM_KINDS = ("429", "hang", "drip")
#: A parsed fault: its kind and parameter (seconds, or the field name of "badfield").
Fault = tuple[str, float | str | None]
ANY: Any = object()  # sentinel for "not given"


def parse_fault(kind: Any) -> Fault | None:
    """Normalise a fault spec: None/"ok" -> None, "429:2" -> ("429", 2.0)."""
    if kind is None:
        return None
    if isinstance(kind, int):
        kind = str(kind)
    if not isinstance(kind, str):
        raise TypeError(f"fault kind must be a string, got {kind!r}")
    name, sep, arg = kind.partition(":")
    name = name.strip().lower()
    if name in ("ok", "none", ""):
        return None
    if name not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)} or 'ok'")
    if name == "badfield":
        field = arg.strip()
        if field not in BAD_FIELDS:
            raise ValueError(f"fault {kind!r}: name one of {sorted(BAD_FIELDS)}")
        return (name, field)
    value: float | None = None
    if sep:
        if name not in _PARAM_KINDS:
            raise ValueError(f"fault kind {name!r} takes no parameter (got {kind!r})")
        value = float(arg)
        if value < 0:
            raise ValueError(f"negative parameter in fault {kind!r}")
    return (name, value)


class FaultInjection:
    """The server's fault settings: a schedule, then a seeded rate; a hook overrides both."""

    _lock: threading.Lock
    _closing: asyncio.Event | None  # set by the server when it stops: ends hangs and drips

    def _init_faults(
        self,
        faults: Iterable[Any] | None,
        fault_rate: float,
        fault_kinds: Iterable[str] | None,
        seed: int | None,
        fault_hook: Callable[[str, Any], str | None] | None,
        fault_paths: Iterable[str] | None,
        retry_after_s: float | None,
        hang_s: float,
    ) -> None:
        self.fault_hook = fault_hook
        self.retry_after_s = retry_after_s
        self.hang_s = float(hang_s)
        self.usage_override: dict[str, int] | None = None
        self._schedule: collections.deque[Fault | None] = collections.deque()
        self._fault_rate = 0.0
        self._fault_kinds: list[Fault] = []
        self._rng = random.Random(seed)
        self.set_faults(faults or ())
        self.set_fault_rate(fault_rate, fault_kinds, seed=seed)
        self.fault_paths = fault_paths

    @property
    def fault_paths(self) -> tuple[str, ...] | None:
        return self._fault_paths

    @fault_paths.setter
    def fault_paths(self, value: Iterable[str] | None) -> None:
        self._fault_paths = None if value is None else tuple(value)

    def set_faults(self, faults: Iterable[Any]) -> None:
        """Replace the deterministic fault schedule (entries consumed one per request)."""
        parsed = [parse_fault(k) for k in faults]
        with self._lock:
            self._schedule = collections.deque(parsed)

    def push_faults(self, *faults: Any) -> None:
        """Append entries to the fault schedule."""
        parsed = [parse_fault(k) for k in faults]
        with self._lock:
            self._schedule.extend(parsed)

    def set_fault_rate(
        self, rate: float, kinds: Iterable[str] | None = None, *, seed: int | None = ANY
    ) -> None:
        """Set the random fault rate (and kinds; default RANDOM_FAULT_KINDS).

        ``seed`` re-seeds the generator when given (``None`` = nondeterministic).
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be in [0, 1]")
        if kinds is None:
            kinds = sorted(RANDOM_FAULT_KINDS)  # sorted: a seed draws the same kinds every run
        parsed_kinds = [p for p in map(parse_fault, kinds) if p is not None]
        if rate > 0 and not parsed_kinds:
            raise ValueError("fault_kinds must name at least one fault")
        with self._lock:
            self._fault_rate = float(rate)
            self._fault_kinds = parsed_kinds
            if seed is not ANY:
                self._rng = random.Random(seed)

    @property
    def pending_faults(self) -> int:
        """Entries left in the deterministic schedule."""
        return len(self._schedule)

    def _reported_tokens(self, prompt: int, completion: int) -> tuple[int, int]:
        """The token counts to report: counted, or ``usage_override``'s where it names one."""
        override = self.usage_override
        if not override:
            return prompt, completion
        return override.get("prompt_tokens", prompt), override.get("completion_tokens", completion)

    def _choose_fault(self, path: str, body: Any) -> Fault | None:
        fp = self._fault_paths
        if fp is not None and not path.startswith(fp):
            return None
        hook = self.fault_hook
        if hook is not None:
            kind = hook(path, body)
            if kind is not None:
                return parse_fault(kind)
        with self._lock:
            if self._schedule:
                return self._schedule.popleft()
            if self._fault_rate > 0.0 and self._rng.random() < self._fault_rate:
                return self._rng.choice(self._fault_kinds)
        return None

    async def _apply_fault(
        self, request: web.Request, rec: RequestRecord, fault: Fault, handler: Handler
    ) -> web.StreamResponse | None:
        """Return the faulty response, or None to continue with the normal handler."""
        kind, param = fault
        assert self._closing is not None
        if kind in HOSTILE_KINDS:
            return await apply_hostile(request, rec, kind, param, handler, self._closing)
        arg = param if not isinstance(param, str) else None
        if kind == "429":
            retry_after = arg if arg is not None else self.retry_after_s
            headers = {} if retry_after is None else {"Retry-After": _seconds(retry_after)}
            wait = _seconds(retry_after) if retry_after is not None else "1"
            msg = (
                f"Rate limit reached for {rec.model or 'model'} in organization "
                f"{ORGANIZATION_ID} on requests per min (RPM): Limit 60, Used 60, "
                f"Requested 1. Please try again in {wait}s."
            )
            body = error_body(msg, "requests", None, "rate_limit_exceeded")
            return json_response(rec, body, 429, headers)
        if kind == "quota":
            msg = (
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, read the docs: "
                "https://platform.openai.com/docs/guides/error-codes/api-errors."
            )
            body = error_body(msg, "insufficient_quota", None, "insufficient_quota")
            return json_response(rec, body, 429)
        if kind == "500":
            msg = "The server had an error while processing your request. Sorry about that!"
            return json_response(rec, error_body(msg, "server_error"), 500)
        if kind == "503":
            msg = "The engine is currently overloaded, please try again later."
            return json_response(rec, error_body(msg, "server_error"), 503)
        if kind == "400":
            msg = "Invalid request (injected fault)."
            return json_response(rec, error_body(msg, "invalid_request_error"), 400)
        if kind == "malformed":
            rec.status = 200
            return web.Response(
                body=b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{',
                headers=dict(JSON_HEADERS, **{"x-request-id": rec.request_id}),
            )
        if kind == "drop":
            drop(request, rec)
        if kind == "hang":
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._closing.wait(), arg if arg is not None else self.hang_s
                )
            if self._closing.is_set():
                drop(request, rec)
            return None  # respond normally, late
        raise AssertionError(f"unhandled fault {kind}")  # pragma: no cover


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
