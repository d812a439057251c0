"""Script mode, for the benchmarks: the server in its own process, so its CPU is its own.

    python -m tests.openai_server --port 0 --latency 0.05

prints the base URL (``http://127.0.0.1:PORT/v1``) on stdout once it listens, so the caller
reads one line to know where to connect, and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from .server import FakeOpenAIServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.openai_server", description="Fake OpenAI-compatible server."
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat answer")
    args = parser.parse_args(argv)

    server = FakeOpenAIServer(port=args.port, latency_s=args.latency)
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
