"""Batch mode's input files for 100,000 requests: build time, upload time, memory.

The requests are what a plan holds in memory (rendered few-shot date prompts with three
shots, about 0.6 KB each), built first; then the writer streams them into input files at
the default limits (50,000 requests or 200 MB a file) and the files are uploaded with the
real ``openai`` client to the test server's Files API (purpose ``batch``) on 127.0.0.1.
Memory: the Python heap's peak while writing, above what the requests themselves take
(tracemalloc), beside the bytes written — streaming keeps the first far below the second.

    .venv/bin/python benchmarks/batch_files.py [--requests 100000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openai  # noqa: E402

from harness._run.batch_files import write_batch_files  # noqa: E402
from harness.models.base import GenerationParams, ModelRequest  # noqa: E402
from harness.models.openai import chat_body  # noqa: E402
from tests.openai_server import FakeOpenAIServer  # noqa: E402

SYSTEM = "Convert the date to ISO 8601 (YYYY-MM-DD). Reply with the date only."


def _requests(n: int) -> list[tuple[str, ModelRequest]]:
    params = GenerationParams(temperature=0.0, max_tokens=16)
    out = []
    for i in range(n):
        messages = [{"role": "system", "content": SYSTEM}]
        for shot in range(3):
            messages.append({"role": "user", "content": f"March {shot + 1}, 19{i % 100:02d}"})
            messages.append({"role": "assistant", "content": f"19{i % 100:02d}-03-0{shot + 1}"})
        messages.append({"role": "user", "content": f"the {i % 28 + 1}th of May {1900 + i % 120}"})
        out.append((f"{i:064x}", ModelRequest(tuple(messages), params)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    n = parser.parse_args().requests
    requests = _requests(n)

    def write(folder: Path) -> list:
        pairs = ((key, chat_body("gpt-4o-mini", request)) for key, request in requests)
        return write_batch_files(pairs, folder, "gpt-4o-mini")

    with tempfile.TemporaryDirectory() as scratch:
        tracemalloc.start()  # a second pass, traced: tracing slows allocation severalfold
        base, _ = tracemalloc.get_traced_memory()
        write(Path(scratch) / "traced")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        started = time.perf_counter()
        files = write(Path(scratch) / "timed")
        built = time.perf_counter() - started
        written = sum(f.bytes for f in files)
        with FakeOpenAIServer(api_key="sk-bench") as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0)
            started = time.perf_counter()
            for f in files:
                with f.path.open("rb") as fh:
                    client.files.create(file=(f.path.name, fh), purpose="batch")
            uploaded = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n:,} requests -> {len(files)} files, {written / 1e6:.1f} MB")
    print(f"build: {built:.2f} s ({n / built:,.0f} requests/s)")
    print(f"upload to 127.0.0.1: {uploaded:.2f} s ({written / 1e6 / uploaded:.0f} MB/s)")
    print(
        f"heap peak while writing, above the requests: {(peak - base) / 1e6:.2f} MB "
        f"({(peak - base) / written:.1%} of the bytes written; mostly the set of ids seen)"
    )
    print(f"process peak RSS (requests, server and client included): {rss:.0f} MB")


if __name__ == "__main__":
    main()
