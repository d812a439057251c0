"""The server itself: an aiohttp app on 127.0.0.1 in a background thread, with a request log.

A real HTTP server rather than a mocked client, so the harness's whole path (the official
``openai`` client, its headers, timeouts, connection pool and error types) is what the
tests exercise.  It runs its own event loop in a thread so synchronous tests can drive it
and the harness's own event loop stays the harness's.  The middleware logs every request,
checks the API key and parses the JSON body before any fault or endpoint sees it, so the log
and ``count()`` say what the client sent even when the answer was a fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from .batches import Batches
from .chat import ChatCompletions
from .faults import ANY, FaultInjection
from .hostile import Handler
from .jobs import FineTuning
from .wire import JSON_ERRORS, JSON_KEY, REC_KEY, ApiError, RequestRecord, error_body, json_response
from .wire import loads as json_loads

CHAT_PATH = "/v1/chat/completions"
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_WRONG_KEY = (
    "Incorrect API key provided. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly.)"
)


class FakeOpenAIServer(FaultInjection, ChatCompletions, FineTuning, Batches):
    """OpenAI-compatible HTTP server on 127.0.0.1 in a background thread.

    Parameters (all keyword-only; most are plain attributes that may be changed at run time):

    responder:        ``f(request_json) -> str`` (or an async function) giving the assistant
                      text; default: "echo: <last user message>".
    latency_s:        fixed delay before every chat answer (asyncio.sleep, non-blocking).
    models:           iterable of known model ids; ``None`` (default) accepts any model.
                      Unknown models get 404 ``model_not_found``.
    api_key:          if set, requests need ``Authorization: Bearer <api_key>`` (else 401).
    faults:           deterministic schedule consumed one entry per fault-eligible request:
                      "ok"/None, "429", "429:<sec>", "500", "503", "hang", "hang:<sec>",
                      "malformed", "drop", "quota", "400", and the hostile ones of
                      :mod:`.hostile`: "drip", "drip:<sec per byte>", "endless",
                      "redirect_loop", "echo_key", "badfield:<name>".
    fault_rate, fault_kinds, seed:
                      after the schedule is exhausted, each eligible request gets a fault
                      with probability ``fault_rate`` drawn from ``fault_kinds`` (default
                      RANDOM_FAULT_KINDS) using ``random.Random(seed)``.
    fault_hook:       optional ``f(path, request_json_or_None) -> kind | None``, consulted
                      first; a non-None result ("ok" included) is final for that request.
    fault_paths:      path prefixes faults apply to (default: chat completions only);
                      ``None`` means every /v1 endpoint.
    retry_after_s:    Retry-After seconds for "429" (0 allowed; ``None`` omits the header).
    hang_s:           how long "hang" holds the request before a normal, late answer
                      (default 30 s; stop() ends it with a dropped connection).
    usage_override:   attribute only (default None): ``prompt_tokens`` and/or
                      ``completion_tokens`` to report instead of the counted ones, e.g.
                      ``{"prompt_tokens": 200}`` (a server counting more than estimated).
    ft_polls_to_finish: retrieve polls before a fine-tuning job ends (default 2:
                      queued -> running -> succeeded).
    ft_outcome:       "succeeded" (default) or "failed" for jobs that finish.
    batch_polls_to_finish, batch_outcome, batch_expired_fraction: how batches move and end
                      (see :mod:`.batches`; ``batch_outcomes``, a list attribute, sets the
                      outcome of the next batches one by one).
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
        fault_paths: Iterable[str] | None = (CHAT_PATH,),
        retry_after_s: float | None = 1.0,
        hang_s: float = 30.0,
        ft_polls_to_finish: int = 2,
        ft_outcome: str = "succeeded",
        batch_polls_to_finish: int = 3,
        batch_outcome: str = "completed",
        batch_expired_fraction: float = 0.5,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self._requested_port = int(port)
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._ids = itertools.count(1)  # request and object ids alike
        self._init_faults(
            faults, fault_rate, fault_kinds, seed, fault_hook, fault_paths, retry_after_s, hang_s
        )
        self._init_chat(responder, latency_s, models)
        self._init_jobs(ft_polls_to_finish, ft_outcome)
        self._init_batches(batch_polls_to_finish, batch_outcome, batch_expired_fraction, seed)

        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._port: int | None = None

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
        model: Any = ANY,
        fault: Any = ANY,
        status: Any = ANY,
    ) -> int:
        """Number of logged requests matching every given filter.

        ``path`` matches exactly, ``prefix`` as a prefix; ``fault``/``status``/``model``
        match exactly (``None`` matches "no fault" / "no status").
        """
        return sum(
            (path is None or r.path == path)
            and (prefix is None or r.path.startswith(prefix))
            and (model is ANY or r.model == model)
            and (fault is ANY or r.fault == fault)
            and (status is ANY or r.status == status)
            for r in self.requests
        )

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ---------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def base_url(self) -> str:
        """OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

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
        app = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024**2)
        r = app.router
        r.add_post(CHAT_PATH, self._chat)
        r.add_post("/v1/files", self._upload_file)
        r.add_post("/v1/fine_tuning/jobs", self._create_job)
        r.add_get("/v1/fine_tuning/jobs", self._list_jobs)
        r.add_get("/v1/fine_tuning/jobs/{job_id}", self._get_job)
        r.add_post("/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel_job)
        r.add_get("/v1/fine_tuning/jobs/{job_id}/events", self._list_events)
        r.add_get("/v1/fine_tuning/jobs/{job_id}/checkpoints", self._list_checkpoints)
        r.add_get("/v1/files/{file_id}", self._get_file)
        r.add_get("/v1/files/{file_id}/content", self._file_content)
        r.add_post("/v1/batches", self._create_batch)
        r.add_get("/v1/batches", self._list_batches)
        r.add_get("/v1/batches/{batch_id}", self._get_batch)
        r.add_post("/v1/batches/{batch_id}/cancel", self._cancel_batch)
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

    # ---------------------------------------------------------------- every request

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        rec = RequestRecord(time.time(), request.method, path, f"req_{next(self._ids):012x}")
        request[REC_KEY] = rec
        with self._lock:
            self._log.append(rec)
        try:
            if self.api_key is not None:
                auth = request.headers.get("Authorization", "")
                if auth != "Bearer " + self.api_key:
                    message = _WRONG_KEY if auth else _NO_KEY
                    error = error_body(message, "invalid_request_error", None, "invalid_api_key")
                    return json_response(rec, error, 401)

            body: Any = None
            if request.method == "POST" and request.content_type == "application/json":
                raw = await request.read()
                try:
                    body = json_loads(raw) if raw else None
                except JSON_ERRORS:
                    return json_response(rec, error_body(_BAD_JSON, "invalid_request_error"), 400)
                request[JSON_KEY] = body
                if isinstance(body, dict):
                    if isinstance(body.get("model"), str):
                        rec.model = body["model"]
                    if isinstance(body.get("messages"), list):
                        rec.messages = body["messages"]

            fault = self._choose_fault(path, body)
            if fault is not None:
                rec.fault = fault[0]
                resp = await self._apply_fault(request, rec, fault, handler)
                if resp is not None:
                    return resp
            return await handler(request)
        except ApiError as f:
            return json_response(rec, f.body, f.status)
        except web.HTTPException as exc:  # no such route or method
            what = {404: "Invalid URL", 405: "Method not allowed"}.get(exc.status)
            msg = f"{what} ({request.method} {path})" if what else exc.reason
            return json_response(rec, error_body(msg, "invalid_request_error"), exc.status)
        except Exception as exc:  # responder errors, bugs: an OpenAI-style 500
            msg = f"The fake server failed: {exc!r}"
            return json_response(rec, error_body(msg, "server_error"), 500)
