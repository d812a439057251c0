"""A small, real OpenAI-compatible HTTP server for the tests and the benchmarks.

It speaks the wire protocol the harness uses (JSON bodies, status codes, OpenAI error
bodies, multipart upload, cursor pagination), so the official ``openai`` client works
against it unchanged, and it fails on demand (see :mod:`.faults` and :mod:`.hostile`).
It serves only what the harness calls: non-streaming chat completions, file upload and
download, fine-tuning jobs with their events and checkpoints, and batches.

Usage in tests::

    from tests.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(api_key="sk-test", latency_s=0.0) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        server.set_faults(["429", "ok", "500"])
        assert server.count(path="/v1/chat/completions") == 3

As a script (benchmarks), from the repository root::

    python -m tests.openai_server --port 0 --latency 0.05

prints the base URL (``http://127.0.0.1:PORT/v1``) on stdout and serves until killed.

Self-contained: standard library + aiohttp only (orjson is used when installed).
"""

from .chat import count_tokens, default_responder
from .faults import FAULT_KINDS, RANDOM_FAULT_KINDS
from .hostile import BAD_FIELDS
from .server import FakeOpenAIServer
from .wire import RequestRecord

__all__ = [
    "BAD_FIELDS",
    "FAULT_KINDS",
    "RANDOM_FAULT_KINDS",
    "FakeOpenAIServer",
    "RequestRecord",
    "count_tokens",
    "default_responder",
]
