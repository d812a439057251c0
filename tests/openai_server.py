"""A small, real OpenAI-compatible HTTP server for tests and benchmarks.

It speaks the actual wire protocol (JSON bodies, status codes, OpenAI error bodies, SSE
streaming, multipart file upload, cursor pagination) so the official ``openai`` client works
against it unchanged.  It runs an aiohttp server in a background thread with its own event
loop and can inject faults (rate limits, server errors, hangs, malformed bodies, dropped
connections, quota errors, bad requests) deterministically or at a seeded random rate, and
hostile ones a client must survive (bodies dripped a byte at a time, endless bodies,
redirect loops, a 401 that echoes the key, well-formed JSON with ill-typed fields).

Usage in tests::

    from tests.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(api_key="sk-test", latency_s=0.0) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        server.set_faults(["429", "ok", "500"])
        assert server.count(path="/v1/chat/completions") == 3

As a script (benchmarks)::

    python tests/openai_server.py --port 0 --latency 0.05

prints the base URL (``http://127.0.0.1:PORT/v1``) on stdout and serves until killed.

Self-contained: standard library + aiohttp only (orjson is used when installed).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import inspect
import itertools
import json
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

try:  # optional speed-up
    import orjson as _orjson  # type: ignore[import-not-found, unused-ignore]

    def _dumps(obj: Any) -> bytes:
        return bytes(_orjson.dumps(obj))

    _loads: Callable[[bytes], Any] = _orjson.loads
    _JSON_ERRORS: tuple[type[Exception], ...] = (ValueError, _orjson.JSONDecodeError)
except ImportError:  # pragma: no cover - depends on environment
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def _dumps(obj: Any) -> bytes:
        return _encoder.encode(obj).encode("utf-8")

    _loads = json.loads
    _JSON_ERRORS = (ValueError, UnicodeDecodeError)

__all__ = [
    "FAULT_KINDS",
    "FakeOpenAIServer",
    "RequestRecord",
    "default_responder",
    "count_tokens",
]

#: Fault kinds understood by the server.  "ok" (or None) in a schedule means "no fault".
#: "429" and "hang" accept a parameter: "429:2.5" (Retry-After seconds), "hang:0.3" (seconds);
#: so does "drip:0.5" (seconds per byte); "badfield:<name>" needs one of BAD_FIELDS.
FAULT_KINDS = frozenset(
    {"429", "500", "503", "hang", "malformed", "drop", "quota", "400"}
    | {"drip", "endless", "redirect_loop", "echo_key", "badfield"}
)
#: What a random fault rate draws from by default: the transient faults a client retries
#: (not the hostile ones, which would make a rate-based run slow or fail by design).
RANDOM_FAULT_KINDS = frozenset({"429", "500", "503", "malformed", "drop", "quota", "400"})
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
_PARAM_KINDS = ("429", "hang", "drip")

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano")

_JSON_HEADERS = {"Content-Type": "application/json"}
_CHAT_PATH = "/v1/chat/completions"
_ADMIN_PREFIX = "/__admin"
_ANY: Any = object()  # sentinel for "no filter"


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """Text of a message ``content`` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return ""


def count_tokens(text: str) -> int:
    """Deterministic token approximation: whitespace-separated word count."""
    return len(text.split())


def _prompt_tokens(messages: list[Any]) -> int:
    n = 0
    for m in messages:
        if isinstance(m, dict):
            n += count_tokens(_text_of(m.get("content")))
    return n


def _last_user_text(messages: list[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return _text_of(m.get("content"))
    return ""


def default_responder(request_json: Mapping[str, Any]) -> str:
    """Default answer: ``"echo: <content of the last user message>"``."""
    messages = request_json.get("messages") or []
    return "echo: " + _last_user_text(messages)


def _error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


#: A parsed fault: its kind and parameter (seconds, or the field name of "badfield").
_Fault = tuple[str, float | str | None]


def _parse_kind(kind: Any) -> _Fault | None:
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


def _break_field(obj: dict[str, Any], name: str) -> None:
    """Make one field of a chat completion ill-typed or out of range (see BAD_FIELDS)."""
    message = obj["choices"][0]["message"]
    usage = obj["usage"]
    if name == "prompt_tokens_str":
        usage["prompt_tokens"] = "ten"
    elif name == "content_int":
        message["content"] = 42
    elif name == "content_list":
        message["content"] = [{"type": "text", "text": message["content"]}]
    elif name == "content_null":
        message["content"] = None
    elif name == "tokens_negative":
        usage["prompt_tokens"] = -5
    elif name == "tokens_huge":
        usage["completion_tokens"] = 10**30
    elif name == "tokens_nan":
        usage["prompt_tokens"] = float("nan")
    elif name == "tokens_inf":
        usage["completion_tokens"] = float("inf")
    elif name == "tokens_bool":
        usage["prompt_tokens"] = True
    elif name == "no_choices":
        obj["choices"] = []
    elif name == "no_usage":
        del obj["usage"]
    else:  # pragma: no cover - _parse_kind checks the name
        raise AssertionError(name)


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class RequestRecord:
    """One entry of the request log.

    ``status`` is filled in when the response is decided (``None`` for a dropped or
    abandoned request, e.g. a hang the client gave up on).  ``messages`` is the parsed
    ``messages`` list of a chat request (a private copy: the server never mutates it).
    """

    __slots__ = (
        "time",
        "method",
        "path",
        "model",
        "messages",
        "fault",
        "status",
        "request_id",
        "error",
        "stream",
    )

    def __init__(self, time_: float, method: str, path: str, request_id: str) -> None:
        self.time = time_
        self.method = method
        self.path = path
        self.request_id = request_id
        self.model: str | None = None
        self.messages: list[Any] | None = None
        self.fault: str | None = None
        self.status: int | None = None
        self.error: str | None = None
        self.stream = False

    @property
    def messages_hash(self) -> str | None:
        """Stable short hash (sha256, 16 hex chars) of the request's messages."""
        if self.messages is None:
            return None
        data = json.dumps(self.messages, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "model": self.model,
            "messages_hash": self.messages_hash,
            "fault": self.fault,
            "status": self.status,
            "request_id": self.request_id,
            "error": self.error,
            "stream": self.stream,
        }

    def __repr__(self) -> str:
        return (
            f"RequestRecord({self.method} {self.path} model={self.model!r} "
            f"fault={self.fault!r} status={self.status!r})"
        )


_REC_KEY = web.RequestKey("fake_openai_rec", RequestRecord)
_JSON_KEY: web.RequestKey[Any] = web.RequestKey("fake_openai_json", object)


class _Job:
    """Internal state of a fine-tuning job (``obj`` is the wire object)."""

    __slots__ = (
        "obj",
        "polls",
        "events",
        "checkpoints",
        "n_examples",
        "n_words",
        "suffix",
        "problem",
    )

    def __init__(self, obj: dict[str, Any], suffix: str | None) -> None:
        self.obj = obj
        self.polls = 0
        self.events: list[dict[str, Any]] = []  # chronological
        self.checkpoints: list[dict[str, Any]] = []  # chronological
        self.n_examples = 0
        self.n_words = 0
        self.suffix = suffix
        self.problem: str | None = None  # training-file problem: the job fails when it starts


class _Fail(Exception):
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
        self.body = _error_body(message, type_, param, code)


def _page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """Cursor page over ``items`` (already in the returned order)."""
    start = 0
    if after:
        for i, item in enumerate(items):
            if item.get("id") == after:
                start = i + 1
                break
    data = items[start : start + limit]
    return {
        "object": "list",
        "data": data,
        "has_more": start + limit < len(items),
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def _limit(request: web.Request, default: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _Fail(400, f"Invalid 'limit': {raw!r}", param="limit") from None
    if value < 1:
        raise _Fail(400, "'limit' must be at least 1", param="limit")
    return value


# --------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------


class FakeOpenAIServer:
    """OpenAI-compatible HTTP server on 127.0.0.1 in a background thread.

    Parameters (all keyword-only; most are plain attributes that may be changed at run time):

    responder:        ``f(request_json) -> str`` (or an async function) giving the assistant
                      text; default ``default_responder`` ("echo: <last user message>").
    latency_s:        fixed delay before every chat answer (asyncio.sleep, non-blocking).
    models:           iterable of known model ids; ``None`` (default) accepts any model.
                      Unknown models get 404 ``model_not_found``.
    api_key:          if set, requests need ``Authorization: Bearer <api_key>`` (else 401).
    faults:           deterministic schedule consumed one entry per fault-eligible request:
                      "ok"/None, "429", "429:<sec>", "500", "503", "hang", "hang:<sec>",
                      "malformed", "drop", "quota", "400"; hostile ones: "drip",
                      "drip:<sec per byte>" (a valid answer sent one byte at a time, default
                      0.5 s apart), "endless" (a chunked body that never ends),
                      "redirect_loop" (302 to the same URL), "echo_key" (401 whose message
                      repeats the Authorization header received; applies after the key
                      check, so send the right key), "badfield:<name>" (a valid answer with
                      one field broken; names in BAD_FIELDS, e.g. "badfield:tokens_nan").
                      "drip" and "badfield" apply to non-streaming chat answers.
    fault_rate, fault_kinds, seed:
                      after the schedule is exhausted, each eligible request gets a fault
                      with probability ``fault_rate`` drawn from ``fault_kinds`` (default
                      RANDOM_FAULT_KINDS minus "hang") using ``random.Random(seed)``.
    fault_hook:       optional ``f(path, request_json_or_None) -> kind | None``, consulted
                      first; a non-None result ("ok" included) is final for that request.
    fault_paths:      path prefixes faults apply to (default: chat completions only);
                      ``None`` means every /v1 endpoint.
    retry_after_s:    Retry-After seconds for "429" (0 allowed; ``None`` omits the header).
    hang_s:           how long "hang" holds the request (default 30 s; interrupted by stop()).
    hang_then:        after a hang: "respond" (normal answer, default) or "drop".
    honor_max_tokens: truncate answers to ``max_tokens``/``max_completion_tokens`` words with
                      finish_reason "length" (default False).
    usage_override:   attribute only (default None): ``prompt_tokens`` and/or
                      ``completion_tokens`` to report instead of the counted ones, e.g.
                      ``{"prompt_tokens": 200}`` (a server counting more than estimated).
    ft_polls_to_finish: retrieve polls before a fine-tuning job ends (default 2:
                      queued -> running -> succeeded).
    ft_outcome:       "succeeded" (default) or "failed" for jobs that finish.
    ft_memorize:      fine-tuned models answer a training prompt with its training answer
                      (default True); other prompts go to the responder.
    host, port:       bind address (default 127.0.0.1, port 0 = free port).
    """

    def __init__(
        self,
        *,
        responder: Callable[[dict[str, Any]], Any] | None = None,
        latency_s: float = 0.0,
        models: Iterable[str] | None = None,
        api_key: str | None = None,
        faults: Iterable[Any] | None = None,
        fault_rate: float = 0.0,
        fault_kinds: Iterable[str] | None = None,
        seed: int | None = 0,
        fault_hook: Callable[[str, Any], str | None] | None = None,
        fault_paths: Iterable[str] | None = (_CHAT_PATH,),
        retry_after_s: float | None = 1.0,
        hang_s: float = 30.0,
        hang_then: str = "respond",
        honor_max_tokens: bool = False,
        ft_polls_to_finish: int = 2,
        ft_outcome: str = "succeeded",
        ft_memorize: bool = True,
        organization_id: str = "org-harness",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.responder = responder if responder is not None else default_responder
        self.latency_s = float(latency_s)
        self.api_key = api_key
        self.fault_hook = fault_hook
        self.retry_after_s = retry_after_s
        self.hang_s = float(hang_s)
        if hang_then not in ("respond", "drop"):
            raise ValueError("hang_then must be 'respond' or 'drop'")
        self.hang_then = hang_then
        self.honor_max_tokens = honor_max_tokens
        self.usage_override: dict[str, int] | None = None
        self.ft_polls_to_finish = int(ft_polls_to_finish)
        self.ft_outcome = ft_outcome
        self.ft_memorize = ft_memorize
        self.organization_id = organization_id
        self.host = host
        self._requested_port = int(port)

        self._lock = threading.Lock()
        self._known_models: set[str] | None = set(models) if models is not None else None
        self._model_created: dict[str, int] = {}
        self._ft_models: dict[str, str] = {}  # ft model id -> job id
        self._ft_memory: dict[str, dict[str, str]] = {}
        self._schedule: collections.deque[_Fault | None] = collections.deque()
        self._fault_rate = 0.0
        self._fault_kinds: list[_Fault] = []
        self._rng = random.Random(seed)
        self.set_faults(faults or ())
        self.set_fault_rate(fault_rate, fault_kinds, seed=seed)
        self.fault_paths = fault_paths

        self._log: list[RequestRecord] = []
        self._ids = itertools.count(1)
        self.files: dict[str, dict[str, Any]] = {}  # file id -> FileObject dict
        self.file_contents: dict[str, bytes] = {}
        self.jobs: dict[str, _Job] = {}

        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._port: int | None = None

    # ---------------------------------------------------------------- configuration

    @property
    def fault_paths(self) -> tuple[str, ...] | None:
        return self._fault_paths

    @fault_paths.setter
    def fault_paths(self, value: Iterable[str] | None) -> None:
        self._fault_paths = None if value is None else tuple(value)

    def set_faults(self, faults: Iterable[Any]) -> None:
        """Replace the deterministic fault schedule (entries consumed one per request)."""
        parsed = [_parse_kind(k) for k in faults]
        with self._lock:
            self._schedule = collections.deque(parsed)

    def push_faults(self, *faults: Any) -> None:
        """Append entries to the fault schedule."""
        parsed = [_parse_kind(k) for k in faults]
        with self._lock:
            self._schedule.extend(parsed)

    def set_fault_rate(
        self, rate: float, kinds: Iterable[str] | None = None, *, seed: int | None = _ANY
    ) -> None:
        """Set the random fault rate (and kinds; default RANDOM_FAULT_KINDS but "hang").

        ``seed`` re-seeds the generator when given (``None`` = nondeterministic).
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be in [0, 1]")
        if kinds is None:
            kinds = sorted(RANDOM_FAULT_KINDS - {"hang"})
        parsed = [_parse_kind(k) for k in kinds]
        parsed_kinds = [p for p in parsed if p is not None]
        if rate > 0 and not parsed_kinds:
            raise ValueError("fault_kinds must name at least one fault")
        with self._lock:
            self._fault_rate = float(rate)
            self._fault_kinds = parsed_kinds
            if seed is not _ANY:
                self._rng = random.Random(seed)

    def clear_faults(self) -> None:
        """No schedule, no random faults, no hook."""
        with self._lock:
            self._schedule.clear()
            self._fault_rate = 0.0
        self.fault_hook = None

    @property
    def pending_faults(self) -> int:
        """Entries left in the deterministic schedule."""
        return len(self._schedule)

    @property
    def models(self) -> set[str] | None:
        """Known model ids (``None``: any model is accepted)."""
        with self._lock:
            return None if self._known_models is None else set(self._known_models)

    def add_model(self, model_id: str) -> None:
        with self._lock:
            if self._known_models is not None:
                self._known_models.add(model_id)
            self._model_created.setdefault(model_id, int(time.time()))

    # ---------------------------------------------------------------- request log

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of the request log (oldest first)."""
        with self._lock:
            return list(self._log)

    def count(
        self,
        path: str | None = None,
        *,
        prefix: str | None = None,
        model: Any = _ANY,
        fault: Any = _ANY,
        status: Any = _ANY,
    ) -> int:
        """Number of logged requests matching every given filter.

        ``path`` matches exactly, ``prefix`` as a prefix; ``fault``/``status``/``model``
        match exactly (``None`` matches "no fault" / "no status").
        """
        n = 0
        for r in self.requests:
            if path is not None and r.path != path:
                continue
            if prefix is not None and not r.path.startswith(prefix):
                continue
            if model is not _ANY and r.model != model:
                continue
            if fault is not _ANY and r.fault != fault:
                continue
            if status is not _ANY and r.status != status:
                continue
            n += 1
        return n

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def stats(self) -> dict[str, Any]:
        """Aggregate counts: total, by path, by status, by fault."""
        recs = self.requests
        by_path = collections.Counter(r.path for r in recs)
        by_status = collections.Counter(str(r.status) for r in recs)
        by_fault = collections.Counter(str(r.fault) for r in recs)
        return {
            "requests": len(recs),
            "by_path": dict(by_path),
            "by_status": dict(by_status),
            "by_fault": dict(by_fault),
        }

    # ---------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._port is not None

    def start(self, timeout: float = 10.0) -> FakeOpenAIServer:
        """Start serving; returns once the socket is listening."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(
            target=self._thread_main, name="FakeOpenAIServer", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("FakeOpenAIServer did not start in time")
        if self._start_error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise RuntimeError("FakeOpenAIServer failed to start") from self._start_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (interrupts hanging requests) and join the thread.  Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and self._stop_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._stop_event.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("FakeOpenAIServer did not stop in time")
        self._thread = None
        self._loop = None
        self._port = None

    close = stop

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # pragma: no cover - reported to start()
            self._start_error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._closing = asyncio.Event()
        app = self._make_app()
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=2.0,
        )
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self._requested_port, backlog=1024)
            await site.start()
            self._port = int(runner.addresses[0][1])
        except BaseException as exc:
            self._start_error = exc
            await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            self._closing.set()
            await runner.cleanup()

    # ---------------------------------------------------------------- app & middleware

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024**2)
        r = app.router
        r.add_post("/v1/chat/completions", self._chat)
        r.add_get("/v1/models", self._list_models)
        r.add_get("/v1/models/{model_id}", self._get_model)
        r.add_delete("/v1/models/{model_id}", self._delete_model)
        r.add_post("/v1/files", self._upload_file)
        r.add_get("/v1/files", self._list_files)
        r.add_get("/v1/files/{file_id}", self._get_file)
        r.add_get("/v1/files/{file_id}/content", self._get_file_content)
        r.add_delete("/v1/files/{file_id}", self._delete_file)
        r.add_post("/v1/fine_tuning/jobs", self._create_job)
        r.add_get("/v1/fine_tuning/jobs", self._list_jobs)
        r.add_get("/v1/fine_tuning/jobs/{job_id}", self._get_job)
        r.add_post("/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel_job)
        r.add_get("/v1/fine_tuning/jobs/{job_id}/events", self._list_events)
        r.add_get("/v1/fine_tuning/jobs/{job_id}/checkpoints", self._list_checkpoints)
        r.add_get(_ADMIN_PREFIX + "/stats", self._admin_stats)
        r.add_post(_ADMIN_PREFIX + "/faults", self._admin_faults)
        r.add_post(_ADMIN_PREFIX + "/reset", self._admin_reset)
        return app

    def _json_response(
        self,
        rec: RequestRecord | None,
        obj: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        hdrs = dict(_JSON_HEADERS)
        if rec is not None:
            hdrs["x-request-id"] = rec.request_id
            rec.status = status
        if headers:
            hdrs.update(headers)
        return web.Response(body=_dumps(obj), status=status, headers=hdrs)

    def _choose_fault(self, path: str, body: Any) -> _Fault | None:
        fp = self._fault_paths
        if fp is not None and not path.startswith(fp):
            return None
        hook = self.fault_hook
        if hook is not None:
            kind = hook(path, body)
            if kind is not None:
                return _parse_kind(kind)
        with self._lock:
            if self._schedule:
                return self._schedule.popleft()
            if self._fault_rate > 0.0 and self._rng.random() < self._fault_rate:
                return self._rng.choice(self._fault_kinds)
        return None

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith(_ADMIN_PREFIX):
            return await handler(request)

        rec = RequestRecord(time.time(), request.method, path, f"req_{next(self._ids):012x}")
        request[_REC_KEY] = rec
        with self._lock:
            self._log.append(rec)
        try:
            if self.api_key is not None:
                auth = request.headers.get("Authorization", "")
                if auth != "Bearer " + self.api_key:
                    if not auth:
                        msg = (
                            "You didn't provide an API key. You need to provide your API key "
                            "in an Authorization header using Bearer auth "
                            "(i.e. Authorization: Bearer YOUR_KEY)."
                        )
                    else:
                        msg = (
                            "Incorrect API key provided. You can find your API key at "
                            "https://platform.openai.com/account/api-keys."
                        )
                    return self._json_response(
                        rec,
                        _error_body(msg, "invalid_request_error", None, "invalid_api_key"),
                        401,
                    )

            body: Any = None
            if request.method == "POST" and request.content_type == "application/json":
                raw = await request.read()
                try:
                    body = _loads(raw) if raw else None
                except _JSON_ERRORS:
                    return self._json_response(
                        rec,
                        _error_body(
                            "We could not parse the JSON body of your request. (HINT: This "
                            "likely means you aren't using your HTTP library correctly.)",
                            "invalid_request_error",
                        ),
                        400,
                    )
                request[_JSON_KEY] = body
                if isinstance(body, dict):
                    model = body.get("model")
                    if isinstance(model, str):
                        rec.model = model
                    messages = body.get("messages")
                    if isinstance(messages, list):
                        rec.messages = messages
                    rec.stream = body.get("stream") is True

            fault = self._choose_fault(path, body)
            if fault is not None:
                rec.fault = fault[0]
                resp = await self._apply_fault(request, rec, fault, handler)
                if resp is not None:
                    return resp
            return await handler(request)
        except _Fail as f:
            return self._json_response(rec, f.body, f.status)
        except web.HTTPException as exc:
            if exc.status == 404:
                msg = f"Invalid URL ({request.method} {path})"
            elif exc.status == 405:
                msg = f"Method not allowed ({request.method} {path})"
            else:
                msg = exc.reason
            return self._json_response(rec, _error_body(msg, "invalid_request_error"), exc.status)
        except Exception as exc:  # responder errors, bugs: an OpenAI-style 500
            rec.error = repr(exc)
            return self._json_response(
                rec,
                _error_body(f"The fake server failed: {exc!r}", "server_error"),
                500,
            )

    def _drop(self, request: web.Request, rec: RequestRecord) -> None:
        rec.status = None
        transport = request.transport
        if transport is not None:
            transport.close()
        raise asyncio.CancelledError  # aiohttp treats this as a gone client: no response

    async def _apply_fault(
        self,
        request: web.Request,
        rec: RequestRecord,
        fault: _Fault,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse | None:
        """Return the faulty response, or None to continue with the normal handler."""
        kind, param = fault
        arg = param if not isinstance(param, str) else None
        if kind in ("drip", "badfield", "endless", "redirect_loop", "echo_key"):
            return await self._apply_hostile(request, rec, kind, param, handler)
        if kind == "429":
            retry_after = arg if arg is not None else self.retry_after_s
            headers = {}
            if retry_after is not None:
                headers["Retry-After"] = _fmt_seconds(retry_after)
            wait = _fmt_seconds(retry_after) if retry_after is not None else "1"
            msg = (
                f"Rate limit reached for {rec.model or 'model'} in organization "
                f"{self.organization_id} on requests per min (RPM): Limit 60, Used 60, "
                f"Requested 1. Please try again in {wait}s."
            )
            return self._json_response(
                rec, _error_body(msg, "requests", None, "rate_limit_exceeded"), 429, headers
            )
        if kind == "quota":
            msg = (
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, read the docs: "
                "https://platform.openai.com/docs/guides/error-codes/api-errors."
            )
            return self._json_response(
                rec, _error_body(msg, "insufficient_quota", None, "insufficient_quota"), 429
            )
        if kind == "500":
            msg = "The server had an error while processing your request. Sorry about that!"
            return self._json_response(rec, _error_body(msg, "server_error"), 500)
        if kind == "503":
            msg = "The engine is currently overloaded, please try again later."
            return self._json_response(rec, _error_body(msg, "server_error"), 503)
        if kind == "400":
            msg = "Invalid request (injected fault)."
            return self._json_response(
                rec, _error_body(msg, "invalid_request_error", None, None), 400
            )
        if kind == "malformed":
            rec.status = 200
            if rec.stream:
                return web.Response(
                    body=b'data: {"id": "chatcmpl-broken", "choices": [\n\n',
                    headers={"Content-Type": "text/event-stream", "x-request-id": rec.request_id},
                )
            return web.Response(
                body=b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{',
                headers={"Content-Type": "application/json", "x-request-id": rec.request_id},
            )
        if kind == "drop":
            self._drop(request, rec)
        if kind == "hang":
            seconds = arg if arg is not None else self.hang_s
            assert self._closing is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), seconds)
            if self._closing.is_set() or self.hang_then == "drop":
                self._drop(request, rec)
            return None  # respond normally, late
        raise AssertionError(f"unhandled fault {kind}")  # pragma: no cover

    async def _apply_hostile(
        self,
        request: web.Request,
        rec: RequestRecord,
        kind: str,
        param: float | str | None,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Faults of a broken or hostile server, which a client must bound and contain."""
        if kind == "redirect_loop":
            rec.status = 302
            return web.Response(
                status=302, headers={"Location": request.path_qs, "x-request-id": rec.request_id}
            )
        if kind == "echo_key":
            auth = request.headers.get("Authorization", "")
            token = auth.partition(" ")[2] or auth
            msg = f"Incorrect API key provided: {token}. (Authorization: {auth})"
            body = _error_body(msg, "invalid_request_error", None, "invalid_api_key")
            return self._json_response(rec, body, 401)
        if kind == "endless":
            return await self._endless(request, rec)
        resp = await handler(request)
        if not isinstance(resp, web.Response) or resp.status != 200:
            return resp  # streaming answers and errors pass unchanged
        assert isinstance(resp.body, bytes)
        if kind == "badfield":
            obj = json.loads(resp.body)
            _break_field(obj, str(param))
            resp.body = json.dumps(obj).encode()  # json, not orjson: NaN and 10**30 survive
            return resp
        delay = 0.5 if param is None else float(param)
        return await self._drip(request, rec, resp.body, delay)

    async def _drip(
        self, request: web.Request, rec: RequestRecord, body: bytes, delay: float
    ) -> web.StreamResponse:
        """Send a valid answer one byte at a time: each read is quick, the whole is slow."""
        headers = dict(_JSON_HEADERS, **{"x-request-id": rec.request_id})
        resp = web.StreamResponse(status=200, headers=headers)
        resp.content_length = len(body)
        await resp.prepare(request)
        assert self._closing is not None
        rec.status = 200
        try:
            for i in range(len(body)):
                await resp.write(body[i : i + 1])
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                if self._closing.is_set():
                    break
            else:
                await resp.write_eof()
                return resp
        except ConnectionResetError:  # the client gave up
            pass
        self._drop(request, rec)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _endless(self, request: web.Request, rec: RequestRecord) -> web.StreamResponse:
        """A chunked JSON body that never ends, as fast as the client reads it."""
        headers = dict(_JSON_HEADERS, **{"x-request-id": rec.request_id})
        resp = web.StreamResponse(status=200, headers=headers)
        resp.enable_chunked_encoding()
        rec.status = 200
        await resp.prepare(request)
        await resp.write(b'{"id": "chatcmpl-endless", "object": "chat.completion", "choices": [')
        filler = b" " * 65536
        assert self._closing is not None
        with contextlib.suppress(ConnectionResetError):  # the client gave up
            while not self._closing.is_set():
                await resp.write(filler)
                await asyncio.sleep(0)
        self._drop(request, rec)
        raise AssertionError("unreachable")  # pragma: no cover

    # ---------------------------------------------------------------- admin (script mode)

    async def _admin_stats(self, request: web.Request) -> web.Response:
        stats = self.stats()
        stats["pending_faults"] = self.pending_faults
        return self._json_response(None, stats)

    async def _admin_faults(self, request: web.Request) -> web.Response:
        try:
            body = _loads(await request.read() or b"{}")
            if "faults" in body:
                self.set_faults(body["faults"] or ())
            if "fault_rate" in body or "fault_kinds" in body or "seed" in body:
                kwargs: dict[str, Any] = {}
                if "seed" in body:
                    kwargs["seed"] = body["seed"]
                self.set_fault_rate(
                    float(body.get("fault_rate", self._fault_rate)),
                    body.get("fault_kinds"),
                    **kwargs,
                )
            for key in ("latency_s", "retry_after_s", "hang_s"):
                if key in body:
                    setattr(self, key, body[key])
        except (ValueError, TypeError) as exc:
            return self._json_response(None, _error_body(str(exc), "invalid_request_error"), 400)
        return self._json_response(None, {"ok": True, "pending_faults": self.pending_faults})

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.reset_log()
        return self._json_response(None, {"ok": True})

    # ---------------------------------------------------------------- chat completions

    def _check_model(self, model: str) -> None:
        known = self._known_models
        if known is not None and model not in known:
            raise _Fail(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model",
                "model_not_found",
            )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        rec: RequestRecord = request[_REC_KEY]
        body = request.get(_JSON_KEY)
        if not isinstance(body, dict):
            raise _Fail(400, "The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Fail(400, "you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Fail(
                400,
                "Invalid 'messages': expected a non-empty array of message objects.",
                param="messages",
                code="invalid_value" if isinstance(messages, list) else None,
            )
        n = body.get("n") or 1
        if not isinstance(n, int) or n < 1 or n > 128:
            raise _Fail(400, f"Invalid 'n': {n!r}", param="n")
        self._check_model(model)

        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)

        content: str | None = None
        if self._ft_memory and model in self._ft_memory:
            content = self._ft_memory[model].get(_last_user_text(messages))
        if content is None:
            result = self.responder(body)
            if inspect.isawaitable(result):
                result = await result
            content = result if isinstance(result, str) else str(result)

        finish_reason = "stop"
        if self.honor_max_tokens:
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
            if isinstance(limit, int) and limit > 0:
                words = content.split()
                if len(words) > limit:
                    content = " ".join(words[:limit])
                    finish_reason = "length"

        prompt_tokens = _prompt_tokens(messages)
        completion_tokens = count_tokens(content) * n
        if self.usage_override:
            prompt_tokens = self.usage_override.get("prompt_tokens", prompt_tokens)
            completion_tokens = self.usage_override.get("completion_tokens", completion_tokens)
        created = int(time.time())
        cid = f"chatcmpl-{rec.request_id[4:]}"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        if body.get("stream") is True:
            opts = body.get("stream_options")
            include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
            return await self._stream(
                request, rec, cid, created, model, content, n, finish_reason, usage, include_usage
            )

        message: dict[str, Any] = {
            "role": "assistant",
            "content": content,
            "refusal": None,
            "annotations": [],
        }
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": finish_reason}
            for i in range(n)
        ]
        return self._json_response(
            rec,
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": "fp_harness",
            },
        )

    async def _stream(
        self,
        request: web.Request,
        rec: RequestRecord,
        cid: str,
        created: int,
        model: str,
        content: str,
        n: int,
        finish_reason: str,
        usage: dict[str, Any],
        include_usage: bool,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "x-request-id": rec.request_id,
            },
        )
        rec.status = 200
        await resp.prepare(request)
        pieces = re.findall(r"\s*\S+", content) or [content]
        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_harness",
        }

        def chunk(choices: list[dict[str, Any]], with_usage: Any = _ANY) -> bytes:
            obj = dict(base, choices=choices)
            if include_usage:
                obj["usage"] = None if with_usage is _ANY else with_usage
            return b"data: " + _dumps(obj) + b"\n\n"

        out = bytearray()
        for i in range(n):
            out += chunk(
                [
                    {
                        "index": i,
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ]
            )
            for piece in pieces:
                out += chunk(
                    [
                        {
                            "index": i,
                            "delta": {"content": piece},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ]
                )
            out += chunk(
                [{"index": i, "delta": {}, "logprobs": None, "finish_reason": finish_reason}]
            )
        if include_usage:
            out += chunk([], usage)
        out += b"data: [DONE]\n\n"
        await resp.write(bytes(out))
        await resp.write_eof()
        return resp

    # ---------------------------------------------------------------- models

    def _model_obj(self, model_id: str) -> dict[str, Any]:
        created = self._model_created.get(model_id, 1_700_000_000)
        owner = "user-harness" if model_id in self._ft_models else "system"
        return {"id": model_id, "object": "model", "created": created, "owned_by": owner}

    async def _list_models(self, request: web.Request) -> web.Response:
        known = self._known_models
        ids = sorted(known) if known is not None else [*DEFAULT_MODELS, *self._ft_models]
        return self._json_response(
            request[_REC_KEY], {"object": "list", "data": [self._model_obj(m) for m in ids]}
        )

    async def _get_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        self._check_model(model_id)
        return self._json_response(request[_REC_KEY], self._model_obj(model_id))

    async def _delete_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        if model_id not in self._ft_models:
            self._check_model(model_id)
            raise _Fail(
                403,
                "You have insufficient permissions to delete this model.",
                code="model_not_deletable",
            )
        with self._lock:
            del self._ft_models[model_id]
            self._ft_memory.pop(model_id, None)
            if self._known_models is not None:
                self._known_models.discard(model_id)
        return self._json_response(
            request[_REC_KEY], {"id": model_id, "object": "model", "deleted": True}
        )

    # ---------------------------------------------------------------- files

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):024x}"

    def _add_file(self, filename: str, purpose: str, data: bytes) -> dict[str, Any]:
        fid = self._new_id("file-")
        obj = {
            "id": fid,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        self.files[fid] = obj
        self.file_contents[fid] = data
        return obj

    async def _upload_file(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            raise _Fail(400, "Expected a multipart/form-data body with 'file' and 'purpose'.")
        form = await request.post()
        purpose = form.get("purpose")
        upload = form.get("file")
        if not isinstance(purpose, str) or not purpose:
            raise _Fail(400, "Missing required parameter: 'purpose'.", param="purpose")
        if not isinstance(upload, web.FileField):
            raise _Fail(400, "Missing required parameter: 'file'.", param="file")
        data = upload.file.read()
        filename = upload.filename or "upload"
        obj = self._add_file(filename, purpose, data)
        return self._json_response(request[_REC_KEY], obj)

    def _file(self, file_id: str) -> dict[str, Any]:
        obj = self.files.get(file_id)
        if obj is None:
            raise _Fail(404, f"No such File object: {file_id}", param="id")
        return obj

    async def _list_files(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose")
        items = [f for f in self.files.values() if purpose is None or f["purpose"] == purpose]
        if request.query.get("order", "desc") == "desc":
            items.reverse()
        page = _page(items, request.query.get("after"), _limit(request, 10000))
        return self._json_response(request[_REC_KEY], page)

    async def _get_file(self, request: web.Request) -> web.Response:
        return self._json_response(request[_REC_KEY], self._file(request.match_info["file_id"]))

    async def _get_file_content(self, request: web.Request) -> web.Response:
        fid = request.match_info["file_id"]
        self._file(fid)
        request[_REC_KEY].status = 200
        return web.Response(
            body=self.file_contents[fid], headers={"Content-Type": "application/octet-stream"}
        )

    async def _delete_file(self, request: web.Request) -> web.Response:
        fid = request.match_info["file_id"]
        self._file(fid)
        del self.files[fid]
        del self.file_contents[fid]
        return self._json_response(
            request[_REC_KEY], {"id": fid, "object": "file", "deleted": True}
        )

    # ---------------------------------------------------------------- fine-tuning

    def _job(self, job_id: str) -> _Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise _Fail(
                404,
                f"Could not find fine tune: {job_id}",
                param="fine_tune_id",
                code="fine_tune_not_found",
            )
        return job

    def _event(
        self,
        job: _Job,
        message: str,
        level: str = "info",
        type_: str = "message",
        data: Any = None,
    ) -> None:
        job.events.append(
            {
                "id": self._new_id("ftevent-"),
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data if data is not None else {},
                "type": type_,
            }
        )

    async def _create_job(self, request: web.Request) -> web.Response:
        body = request.get(_JSON_KEY)
        if not isinstance(body, dict):
            raise _Fail(400, "The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Fail(400, "Missing required parameter: 'model'.", param="model")
        training_file = body.get("training_file")
        if not isinstance(training_file, str) or not training_file:
            raise _Fail(400, "Missing required parameter: 'training_file'.", param="training_file")
        known = self._known_models
        if known is not None and model not in known:
            raise _Fail(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        for param in ("training_file", "validation_file"):
            fid = body.get(param)
            if fid is None:
                continue
            fobj = self.files.get(fid)
            if fobj is None:
                raise _Fail(400, f"invalid {param}: {fid}", param=param, code="invalid_file")
            if fobj["purpose"] != "fine-tune":
                raise _Fail(
                    400,
                    f"File {fid} has purpose '{fobj['purpose']}', but fine-tuning requires "
                    "purpose 'fine-tune'.",
                    param=param,
                    code="invalid_file_purpose",
                )
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
            raise _Fail(400, "Invalid 'suffix': at most 64 characters.", param="suffix")

        method = body.get("method")
        hyper = body.get("hyperparameters")
        if not isinstance(method, dict):
            method = {"type": "supervised", "supervised": {"hyperparameters": hyper or {}}}
        mtype = method.get("type", "supervised")
        if mtype not in ("supervised", "dpo", "reinforcement"):
            raise _Fail(400, f"Invalid method type: {mtype!r}", param="method.type")
        section = method.get(mtype) if isinstance(method.get(mtype), dict) else {}
        method_hyper = section.get("hyperparameters") if isinstance(section, dict) else None
        hp = dict(method_hyper or hyper or {})
        for key in ("batch_size", "learning_rate_multiplier", "n_epochs"):
            hp.setdefault(key, "auto")
        method = dict(method)
        method[mtype] = dict(section or {}, hyperparameters=hp)

        now = int(time.time())
        job_id = self._new_id("ftjob-")
        seed = body.get("seed")
        obj: dict[str, Any] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": now,
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": {
                k: hp[k] for k in ("batch_size", "learning_rate_multiplier", "n_epochs")
            },
            "model": model,
            "organization_id": self.organization_id,
            "result_files": [],
            "seed": seed if isinstance(seed, int) else int(job_id[-8:], 16) % 2**31,
            "status": "queued",
            "trained_tokens": None,
            "training_file": training_file,
            "validation_file": body.get("validation_file"),
            "estimated_finish": None,
            "integrations": body.get("integrations") or [],
            "metadata": body.get("metadata"),
            "method": method,
            "user_provided_suffix": suffix,
        }
        job = _Job(obj, suffix)
        self.jobs[job_id] = job
        self._event(job, f"Created fine-tuning job: {job_id}")
        self._event(job, f"Validating training file: {training_file}")
        self._validate_training(job)
        if job.problem is None:
            self._event(job, "Files validated, moving job to queued state")
        self._advance(job)  # finishes at once when ft_polls_to_finish <= 0
        return self._json_response(request[_REC_KEY], obj)

    def _validate_training(self, job: _Job) -> None:
        obj = job.obj
        data = self.file_contents.get(obj["training_file"], b"")
        mtype = obj["method"]["type"]
        n_examples = n_words = 0
        problem = None
        for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except ValueError:
                problem = f"line {lineno} is not valid JSON"
                break
            if not isinstance(example, dict):
                problem = f"line {lineno} is not a JSON object"
                break
            if mtype == "supervised" and not isinstance(example.get("messages"), list):
                problem = f"line {lineno} has no 'messages' list"
                break
            if mtype == "dpo" and not all(
                k in example for k in ("input", "preferred_output", "non_preferred_output")
            ):
                problem = f"line {lineno} lacks input/preferred_output/non_preferred_output"
                break
            n_examples += 1
            n_words += len(line.split())
        if problem is None and n_examples == 0:
            problem = "the file contains no training examples"
        job.n_examples, job.n_words = n_examples, n_words
        if problem is not None:
            job.problem = f"The job failed due to an invalid training file: {problem}."

    def _finish(self, job: _Job, failed_reason: str | None = None) -> None:
        obj = job.obj
        now = int(time.time())
        obj["finished_at"] = now
        obj["estimated_finish"] = None
        if failed_reason is not None:
            obj["status"] = "failed"
            obj["error"] = {
                "code": "invalid_training_file" if "training file" in failed_reason else "failed",
                "message": failed_reason,
                "param": "training_file" if "training file" in failed_reason else None,
            }
            self._event(job, failed_reason, level="error")
            return
        hp = obj["hyperparameters"]
        n_epochs = hp["n_epochs"] if isinstance(hp["n_epochs"], int) else 3
        base = obj["model"]
        jobsuffix = obj["id"][-8:]
        ft_model = f"ft:{base}:harness:{job.suffix or ''}:{jobsuffix}"
        steps_per_epoch = max(1, job.n_examples)
        total = steps_per_epoch * n_epochs
        for epoch in range(1, n_epochs + 1):
            step = epoch * steps_per_epoch
            loss = round(1.0 / (epoch + 1), 4)
            acc = round(1.0 - loss / 2, 4)
            self._event(
                job,
                f"Step {step}/{total}: training loss={loss:.4f}",
                type_="metrics",
                data={
                    "step": step,
                    "train_loss": loss,
                    "total_steps": total,
                    "train_mean_token_accuracy": acc,
                },
            )
            if epoch > n_epochs - 3:  # the API keeps the last three epochs' checkpoints
                ckpt_model = ft_model if epoch == n_epochs else f"{ft_model}:ckpt-step-{step}"
                job.checkpoints.append(
                    {
                        "id": self._new_id("ftckpt_"),
                        "object": "fine_tuning.job.checkpoint",
                        "created_at": now,
                        "fine_tuned_model_checkpoint": ckpt_model,
                        "fine_tuning_job_id": obj["id"],
                        "metrics": {
                            "step": float(step),
                            "train_loss": loss,
                            "train_mean_token_accuracy": acc,
                            "valid_loss": None,
                            "valid_mean_token_accuracy": None,
                            "full_valid_loss": None,
                            "full_valid_mean_token_accuracy": None,
                        },
                        "step_number": step,
                    }
                )
        csv = "step,train_loss,train_accuracy\n" + "".join(
            f"{e * steps_per_epoch},{1.0 / (e + 1):.4f},{1.0 - 0.5 / (e + 1):.4f}\n"
            for e in range(1, n_epochs + 1)
        )
        results = self._add_file("step_metrics.csv", "fine-tune-results", csv.encode())
        obj["result_files"] = [results["id"]]
        obj["fine_tuned_model"] = ft_model
        obj["trained_tokens"] = job.n_words * n_epochs
        obj["status"] = "succeeded"
        self._event(job, f"New fine-tuned model created: {ft_model}")
        self._event(job, "The job has successfully completed")

        memory: dict[str, str] = {}
        if self.ft_memorize and obj["method"]["type"] == "supervised":
            data = self.file_contents.get(obj["training_file"], b"")
            for line in data.decode("utf-8", "replace").splitlines():
                try:
                    msgs = json.loads(line).get("messages") or []
                except (ValueError, AttributeError):
                    continue
                prompt = None
                for m in msgs:
                    if not isinstance(m, dict):
                        continue
                    if m.get("role") == "user":
                        prompt = _text_of(m.get("content"))
                    elif m.get("role") == "assistant" and prompt is not None:
                        memory[prompt] = _text_of(m.get("content"))
        with self._lock:
            self._ft_models[ft_model] = obj["id"]
            self._ft_memory[ft_model] = memory
            self._model_created[ft_model] = now
            if self._known_models is not None:
                self._known_models.add(ft_model)

    def _advance(self, job: _Job) -> None:
        """Move a job along: queued -> running on the first poll, terminal after
        ``ft_polls_to_finish`` polls (immediately when that is <= 0)."""
        obj = job.obj
        if obj["status"] not in ("queued", "running"):
            return
        target = self.ft_polls_to_finish
        if obj["status"] == "queued" and (job.polls >= 1 or job.polls >= target):
            if job.problem is not None:
                self._finish(job, failed_reason=job.problem)
                return
            obj["status"] = "running"
            obj["estimated_finish"] = int(time.time()) + 60
            hp = obj["hyperparameters"]
            resolved = {"batch_size": 1, "learning_rate_multiplier": 1.8, "n_epochs": 3}
            for key, value in resolved.items():
                if hp.get(key) in (None, "auto"):
                    hp[key] = value
            section = obj["method"].get(obj["method"]["type"])
            if isinstance(section, dict):
                section["hyperparameters"] = dict(section.get("hyperparameters") or {}, **hp)
            self._event(job, "Fine-tuning job started")
        if job.polls >= target:
            if self.ft_outcome == "failed":
                self._finish(job, failed_reason="Fine-tuning failed (injected by the fake server).")
            else:
                self._finish(job)

    async def _get_job(self, request: web.Request) -> web.Response:
        job = self._job(request.match_info["job_id"])
        job.polls += 1
        self._advance(job)
        return self._json_response(request[_REC_KEY], job.obj)

    async def _list_jobs(self, request: web.Request) -> web.Response:
        items = [j.obj for j in reversed(self.jobs.values())]
        page = _page(items, request.query.get("after"), _limit(request, 20))
        return self._json_response(request[_REC_KEY], page)

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job = self._job(request.match_info["job_id"])
        obj = job.obj
        if obj["status"] in ("succeeded", "failed", "cancelled"):
            raise _Fail(400, f"Job has already completed: {obj['id']}", param="fine_tune_id")
        obj["status"] = "cancelled"
        obj["finished_at"] = int(time.time())
        obj["estimated_finish"] = None
        self._event(job, "Fine-tuning job cancelled")
        return self._json_response(request[_REC_KEY], obj)

    async def _list_events(self, request: web.Request) -> web.Response:
        job = self._job(request.match_info["job_id"])
        items = list(reversed(job.events))  # newest first, like the API
        page = _page(items, request.query.get("after"), _limit(request, 20))
        return self._json_response(request[_REC_KEY], page)

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        job = self._job(request.match_info["job_id"])
        items = list(reversed(job.checkpoints))
        page = _page(items, request.query.get("after"), _limit(request, 10))
        return self._json_response(request[_REC_KEY], page)


# --------------------------------------------------------------------------------------
# script entry point
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat answer")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--models", default=None, help="comma-separated known models")
    parser.add_argument("--faults", default=None, help="comma-separated fault schedule")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-kinds", default=None, help="comma-separated kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--hang", type=float, default=30.0, help="seconds a 'hang' holds")
    parser.add_argument("--ft-polls", type=int, default=2)
    args = parser.parse_args(argv)

    def split(value: str | None) -> list[str] | None:
        return None if value is None else [v.strip() for v in value.split(",") if v.strip()]

    server = FakeOpenAIServer(
        host=args.host,
        port=args.port,
        latency_s=args.latency,
        api_key=args.api_key,
        models=split(args.models),
        faults=split(args.faults),
        fault_rate=args.fault_rate,
        fault_kinds=split(args.fault_kinds),
        seed=args.seed,
        retry_after_s=args.retry_after,
        hang_s=args.hang,
        ft_polls_to_finish=args.ft_polls,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    print(server.base_url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
