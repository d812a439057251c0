"""What a run sent: each result's messages and parameters, and each case's fields.

``requests.json`` in a run folder is written here and read here only. A report shows a
case "exactly as sent", so the messages are kept as they were rendered, each marked with
the pool id of the few-shot example it came from. Shared text (a system prompt, an example
shown in thousands of prompts) is stored once: messages refer to a table of distinct texts,
which keeps a run of 8,000 results to a few MB and lets the HTML report embed the table as
it is.

Format (version 1)::

    {"version": 1,
     "texts": ["You convert dates...", ...],           # distinct message contents
     "params": [{"temperature": 0.0, ...}, ...],       # distinct generation parameters
     "requests": {"<result key>": {"m": [["user", 3, "pool-7"], ...], "p": 0}},
                                                       # a 4th item: the message's name
     "cases": {"<case id>": {"input": ..., ...}}}       # each case's fields

A file that is missing or unreadable reads as empty: the report then says the messages
were not recorded rather than failing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "REQUESTS_VERSION",
    "RequestLog",
    "SentRequest",
    "compact",
    "read_requests",
    "write_requests",
]

REQUESTS_VERSION = 1


@dataclass(frozen=True)
class SentRequest:
    """One result's request: (role, content, shot id or None, name or None) per message, and
    its params."""

    key: str
    messages: Sequence[tuple[str, str, str | None, str | None]]
    params: Mapping[str, Any]


@dataclass
class RequestLog:
    """The compact form, as stored (and as the HTML report embeds it)."""

    texts: list[str] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def messages(self, key: str) -> list[tuple[str, str, str | None]]:
        """A request's messages expanded: (role, content, shot id or None)."""
        entry = self.requests.get(key) or {}
        return [(ref[0], self.texts[ref[1]], ref[2]) for ref in entry.get("m", [])]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REQUESTS_VERSION,
            "texts": self.texts,
            "params": self.params,
            "requests": self.requests,
            "cases": self.cases,
        }


def compact(requests: Iterable[SentRequest], cases: Mapping[str, Mapping[str, Any]]) -> RequestLog:
    """Requests with every distinct text and parameter set stored once."""
    log = RequestLog(cases={str(k): dict(v) for k, v in cases.items()})
    text_index: dict[str, int] = {}
    param_index: dict[str, int] = {}
    seen_params: dict[int, tuple[Mapping[str, Any], int]] = {}  # the same dict, once
    for request in requests:
        refs = []
        for role, content, shot, name in request.messages:
            i = text_index.setdefault(content, len(text_index))
            if i == len(log.texts):
                log.texts.append(content)
            refs.append([role, i, shot] if name is None else [role, i, shot, name])
        known = seen_params.get(id(request.params))
        if known is not None and known[0] is request.params:
            p = known[1]
        else:
            blob = json.dumps(request.params, sort_keys=True, default=str)
            p = param_index.setdefault(blob, len(param_index))
            if p == len(log.params):
                log.params.append(json.loads(blob))
            seen_params[id(request.params)] = (request.params, p)
        log.requests[request.key] = {"m": refs, "p": p}
    return log


def write_requests(
    path: Path, requests: Iterable[SentRequest], cases: Mapping[str, Mapping[str, Any]]
) -> RequestLog:
    """Write the run's requests, replacing ``path`` atomically; what was written."""
    log = compact(requests, cases)
    data = log.to_json()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, default=str), "utf-8")
    os.replace(tmp, path)
    return log


def read_requests(path: Path) -> RequestLog:
    """The run's requests; empty when the file is missing, damaged or of another version."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return RequestLog()
    if not isinstance(data, dict) or data.get("version") != REQUESTS_VERSION:
        return RequestLog()
    texts, params = data.get("texts"), data.get("params")
    requests, cases = data.get("requests"), data.get("cases")
    if not (isinstance(texts, list) and all(isinstance(t, str) for t in texts)):
        return RequestLog()
    if not (isinstance(params, list) and all(isinstance(p, dict) for p in params)):
        return RequestLog()
    if not isinstance(requests, dict) or not isinstance(cases, dict):
        return RequestLog()
    kept = {k: v for k, v in requests.items() if _valid_entry(v, len(texts), len(params))}
    return RequestLog(
        texts, params, kept, {str(k): v for k, v in cases.items() if isinstance(v, dict)}
    )


def _valid_entry(entry: Any, texts: int, params: int) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("m"), list):
        return False
    p = entry.get("p")
    if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < params:
        return False
    for ref in entry["m"]:
        if not (isinstance(ref, list) and len(ref) in (3, 4) and isinstance(ref[0], str)):
            return False
        if len(ref) == 4 and not isinstance(ref[3], str):
            return False
        i = ref[1]
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < texts:
            return False
        if ref[2] is not None and not isinstance(ref[2], str):
            return False
    return True
