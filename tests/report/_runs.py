"""A real run for the report tests: two prompts x two shot counts against the test server.

The server answers correctly when the prompt carries shots (so few-shot variants win),
echoes otherwise, and answers one case with markup that must never execute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import harness
from tests.openai_server import FakeOpenAIServer
from tests.openai_server.chat import last_user_text

HOSTILE = "</td><script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"
CASES = 24


def _answer(question: str) -> str:
    return question.removeprefix("date ").upper()


def responder(request: dict[str, Any]) -> str:
    messages = request.get("messages") or []
    question = last_user_text(messages)
    if "c7" in question.split():
        return HOSTILE
    shots = sum(1 for m in messages if m.get("role") == "assistant")
    system = any(m.get("role") == "system" for m in messages)
    number = int(question.rsplit("c", 1)[-1])
    right = shots > 0 or (system and number % 3 == 0)
    if not right and number % 2:
        return "no idea"
    return _answer(question) if right else question


def write_experiment(folder: Path, server: FakeOpenAIServer, name: str = "upper") -> Path:
    pool = [{"id": f"ex{i}", "input": f"date e{i}", "answer": f"E{i}"} for i in range(6)]
    cases = [{"id": f"c{i}", "input": f"date c{i}"} for i in range(CASES)]
    (folder / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    (folder / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in cases))
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        "description: Upper-case the code after 'date'.\n"
        f"models:\n  - id: openai:echo-1\n    base_url: {server.base_url}\n"
        f"    api_key: {server.api_key}\n"
        "params: {temperature: 0, max_tokens: 8}\n"
        "prompts:\n"
        '  - id: plain\n    user: "{{ input }}"\n'
        "  - id: told\n    system: Reply with the code in capitals.\n"
        '    user: "{{ input }}"\n'
        "examples:\n  file: pool.jsonl\n  answer: '{{ answer }}'\n"
        "shots: [0, 2]\nselectors: [first]\n"
        "tests:\n  file: cases.jsonl\n  assert:\n"
        "    - equals: \"{{ input | replace('date ', '') | upper }}\"\n"
        "    - not_contains: idea\n"
    )
    return path


def make_run(
    folder: Path, server: FakeOpenAIServer, home: Path, *, use_cache: bool = True
) -> harness.RunResult:
    path = write_experiment(folder, server)
    return harness.run(path, home=home, progress=False, use_cache=use_cache)
