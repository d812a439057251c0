"""Point an imported experiment at the tests' OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.openai_server import FakeOpenAIServer


def use_server(path: Path, server: FakeOpenAIServer) -> None:
    """Replace the experiment's models with one served by ``server`` (comments are dropped)."""
    spec = yaml.safe_load(path.read_text("utf-8"))
    spec["models"] = [{"id": "openai:x", "base_url": server.base_url, "api_key": server.api_key}]
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), "utf-8")
