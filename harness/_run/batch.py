"""Batch mode: a run's requests for opted-in models sent through the Batch API.

Requests not answered yet (not resumed, not in the cache) are written as input files in the
run folder (``batch/``), uploaded and turned into batches; every file and batch id is saved
in ``batches.json`` as soon as it exists, before any waiting, so a process that dies leaves
a run that ``--resume`` (or ``harness batch collect``) picks up without submitting anything
twice: what was submitted is read back from the input files themselves. Collected output
and error files are downloaded next to them, and their lines become responses keyed by
``custom_id`` (the cache key): the runner then records them exactly as direct answers.

A batch that ends ``expired``, ``cancelled`` or ``failed`` keeps what it answered; what it
did not answer is resubmitted (``resubmit``), left to the direct path (``direct_remainder``)
or reported per case as an error naming both options, never dropped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness._run.batch_files import BatchLimits, write_batch_files
from harness._run.runner import Task
from harness.errors import HarnessError, ProviderError, RetryableError
from harness.models.base import ModelResponse

__all__ = [
    "TERMINAL",
    "BatchAnswers",
    "BatchEntry",
    "BatchPlan",
    "BatchesSubmitted",
    "load_entries",
    "run_batches",
    "save_entries",
    "submitted_keys",
    "update_entry",
]

TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})
RECORD = "batches.json"
FOLDER = "batch"
MAX_POLL_SECONDS = 600.0
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # what batch and file ids look like


class BatchesSubmitted(HarnessError):
    """``--no-wait``: the batches are submitted and recorded; collect them later."""

    exit_code = 0

    def __init__(self, run_id: str, batches: int, requests: int) -> None:
        super().__init__(
            f"submitted {requests} request(s) in {batches} batch(es) for run {run_id}; "
            f"collect them with: harness batch collect {run_id} (or harness run EXP --resume)"
        )
        self.run_id = run_id


class BatchProvider(Protocol):
    """What batch mode needs from a provider (``harness.models.openai``'s has it)."""

    model: str

    async def upload_batch_file(self, path: Path) -> str: ...
    async def create_batch(self, input_file_id: str, metadata: dict[str, str]) -> Any: ...
    async def retrieve_batch(self, batch_id: str) -> Any: ...
    async def cancel_batch(self, batch_id: str) -> Any: ...
    async def download_file(self, file_id: str, target: Path) -> None: ...


@dataclass
class BatchEntry:
    """One input file and the batch made of it, as recorded in ``batches.json``."""

    model: str
    file: str
    requests: int
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str = "written"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    collected: bool = False


@dataclass(frozen=True)
class BatchPlan:
    """How one model's batches run (its provider options and the run's choices)."""

    limits: BatchLimits
    poll_seconds: float = 30.0
    wait: bool = True
    resubmit: bool = False
    direct_remainder: bool = False


@dataclass(frozen=True)
class BatchAnswers:
    """Answers by cache key, and how many requests the batches left unanswered."""

    answered: dict[str, ModelResponse | str]
    unanswered: int = 0

    @property
    def note(self) -> str | None:
        """Why the run cannot be finished yet (it stops as aborted, to be resumed)."""
        if not self.unanswered:
            return None
        return (
            f"{self.unanswered} request(s) not answered by an expired, cancelled or failed "
            "batch: continue with --resume --resubmit or --resume --direct-remainder"
        )


def load_entries(run_dir: Path) -> list[BatchEntry]:
    path = run_dir / RECORD
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text("utf-8"))
        return [BatchEntry(**entry) for entry in raw["batches"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path}: unreadable batch record ({exc})") from None


def save_entries(run_dir: Path, entries: Sequence[BatchEntry]) -> None:
    path = run_dir / RECORD
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"batches": [asdict(e) for e in entries]}, indent=1), "utf-8")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(path)


def submitted_keys(run_dir: Path) -> set[str]:
    """The keys of every request this run has written into a batch input file."""
    return {k for e in load_entries(run_dir) for k in _ids_in(run_dir / FOLDER / e.file)}


def _ids_in(path: Path) -> Iterable[str]:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                yield str(json.loads(line)["custom_id"])


def _download_name(entry: BatchEntry, suffix: str) -> str:
    """A downloaded output or error file, named after our own input file: never after
    anything a server said, so no answer can place a file outside the run folder."""
    return f"{entry.file.removesuffix('.jsonl')}.{suffix}.jsonl"


def _stem(model: str, n: int) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}-{n:02d}"


Body = Callable[[Task], Mapping[str, Any]]
StatusHook = Callable[[Sequence[BatchEntry]], None]


async def run_batches(
    run_dir: Path,
    run_id: str,
    tasks: Sequence[Task],
    providers: Mapping[str, BatchProvider],
    plans: Mapping[str, BatchPlan],
    body: Body,
    *,
    on_status: StatusHook | None = None,
) -> BatchAnswers:
    """Submit what ``tasks`` still need (for the models in ``plans``), wait, collect.

    Returns answers by cache key: a response, or the error text of a request the batch
    could not answer. Keys a batch never reached are absent when ``direct_remainder``
    (the runner asks them directly) and errors otherwise. Raises :class:`BatchesSubmitted`
    after submitting when a plan does not wait.
    """
    session = _Session(run_dir, run_id, providers, plans, body, on_status)
    answered = session.answers()
    await session.submit_missing(tasks, answered)
    if not all(p.wait for p in plans.values()) and session.pending():
        pending = session.pending()
        raise BatchesSubmitted(run_id, len(pending), sum(e.requests for e in pending))
    await session.finish()
    answered = session.answers()
    remainder = [t for t in tasks if t.model in plans and t.key not in answered]
    resubmit = [t for t in remainder if plans[t.model].resubmit]
    if resubmit:
        await session.submit(resubmit)
        await session.finish()
        answered = session.answers()
    unanswered = 0
    for task in remainder:
        if task.key in answered or plans[task.model].direct_remainder:
            continue
        unanswered += 1
        answered[task.key] = (
            f"{_why_unanswered(session.entries, task)}; not answered: run it with --resume "
            "--resubmit (another batch) or --resume --direct-remainder (direct requests)"
        )
    return BatchAnswers(answered, unanswered)


class _Session:
    """One run's batches: its record, its providers and how each model's batches run."""

    def __init__(
        self,
        run_dir: Path,
        run_id: str,
        providers: Mapping[str, BatchProvider],
        plans: Mapping[str, BatchPlan],
        body: Body,
        on_status: StatusHook | None,
    ) -> None:
        self.run_dir, self.run_id, self.folder = run_dir, run_id, run_dir / FOLDER
        self.providers, self.plans, self.body, self.on_status = providers, plans, body, on_status
        self.entries = load_entries(run_dir)

    def save(self) -> None:
        save_entries(self.run_dir, self.entries)

    def pending(self) -> list[BatchEntry]:
        """Unfinished batches of the models this run sends through a Batch API."""
        return [e for e in self.entries if e.status not in TERMINAL and e.model in self.plans]

    def answers(self) -> dict[str, ModelResponse | str]:
        return _collected(self.folder, self.entries)

    async def submit_missing(self, tasks: Sequence[Task], answered: Mapping[str, Any]) -> None:
        """Upload written files and create their batches; submit what no file holds."""
        for entry in self.entries:
            if entry.batch_id is None:
                await self.start(entry)
        submitted = submitted_keys(self.run_dir)
        fresh = [
            t
            for t in tasks
            if t.model in self.plans and t.key not in submitted and t.key not in answered
        ]
        if fresh:
            await self.submit(fresh)

    async def submit(self, tasks: Sequence[Task]) -> None:
        by_model: dict[str, list[Task]] = {}
        for task in tasks:
            by_model.setdefault(task.model, []).append(task)
        for model, mine in by_model.items():
            stem = _stem(model, len(self.entries) + 1)  # a new name for each submission
            lines = ((t.key, self.body(t)) for t in mine)
            written = write_batch_files(lines, self.folder, stem, self.plans[model].limits)
            new = [BatchEntry(model, f.path.name, f.requests) for f in written]
            self.entries.extend(new)
            self.save()  # the files exist: recorded before anything is sent
            for entry in new:
                await self.start(entry)

    async def start(self, entry: BatchEntry) -> None:
        provider = self.providers[entry.model]
        if entry.input_file_id is None:
            uploaded = await provider.upload_batch_file(self.folder / entry.file)
            entry.input_file_id = _checked_id(uploaded, "file")
            self.save()
        batch = await provider.create_batch(
            entry.input_file_id, {"harness_run": self.run_id, "file": entry.file}
        )
        entry.batch_id, entry.status = _checked_id(batch.id, "batch"), str(batch.status)
        self.save()

    async def finish(self) -> None:
        await self.wait()
        await self.collect()

    async def wait(self) -> None:
        """Poll every unfinished batch, backing off from the plan's interval to 10 min."""
        plans = self.plans
        interval = min((plans[e.model].poll_seconds for e in self.pending()), default=30.0)
        while True:
            for entry in self.pending():
                if entry.batch_id is None:
                    continue
                try:
                    batch = await self.providers[entry.model].retrieve_batch(entry.batch_id)
                except RetryableError:
                    continue  # a failed poll is asked again at the next interval
                update_entry(entry, batch)
            self.save()
            if self.on_status is not None:
                self.on_status(self.entries)
            if not self.pending():
                return
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, MAX_POLL_SECONDS)

    async def collect(self) -> None:
        """Download the output and error files of every finished, uncollected batch."""
        for entry in self.entries:
            if entry.status not in TERMINAL or entry.collected or entry.batch_id is None:
                continue
            files = ((entry.output_file_id, "output"), (entry.error_file_id, "error"))
            for file_id, suffix in files:
                if file_id:
                    target = self.folder / _download_name(entry, suffix)
                    await self.providers[entry.model].download_file(file_id, target)
            entry.collected = True
            self.save()


def _checked_id(value: object, what: str) -> str:
    """An id a server gave, used in later URLs: letters, digits, ``_`` and ``-`` only."""
    if not _SAFE_ID.fullmatch(str(value)):
        raise ProviderError(f"the server answered with an unusable {what} id {value!r}")
    return str(value)


def update_entry(entry: BatchEntry, batch: Any) -> None:
    entry.status = str(batch.status)
    out, err = batch.output_file_id, batch.error_file_id
    entry.output_file_id = None if out is None else _checked_id(out, "file")
    entry.error_file_id = None if err is None else _checked_id(err, "file")
    counts = batch.request_counts
    if counts is not None:
        entry.counts = {
            "total": counts.total,
            "completed": counts.completed,
            "failed": counts.failed,
        }


def _collected(folder: Path, entries: Sequence[BatchEntry]) -> dict[str, ModelResponse | str]:
    """Answers by key from every downloaded output and error file."""
    from harness.models.openai import parse_completion

    answered: dict[str, ModelResponse | str] = {}
    for entry in entries:
        if not entry.collected or entry.batch_id is None:
            continue
        for suffix in ("output", "error"):
            path = folder / _download_name(entry, suffix)
            if not path.exists():
                continue
            with path.open("rb") as fh:
                for raw in fh:
                    if raw.strip():
                        key, answer = _answer(raw, parse_completion)
                        if answer is not None and key not in answered:
                            answered[key] = answer
    return answered


def _answer(
    raw: bytes, parse: Callable[[bytes], ModelResponse]
) -> tuple[str, ModelResponse | str | None]:
    """One output or error line: a response, an error text, or None (not run: remainder)."""
    line = json.loads(raw)
    key = str(line.get("custom_id"))
    error = line.get("error")
    if error and error.get("code") in ("batch_expired", "batch_cancelled"):
        return key, None
    response = line.get("response") or {}
    status = response.get("status_code")
    if error or status != 200:
        detail = error or (response.get("body") or {}).get("error") or {}
        message = detail.get("message") if isinstance(detail, dict) else str(detail)
        return key, f"batch request failed (status {status}): {message}"
    try:
        return key, parse(json.dumps(response.get("body")).encode())
    except ProviderError as exc:
        return key, f"batch response: {exc}"


def _why_unanswered(entries: Sequence[BatchEntry], task: Task) -> str:
    ended = [e for e in entries if e.model == task.model and e.status in TERMINAL - {"completed"}]
    if ended:
        return f"batch {ended[-1].batch_id} ended {ended[-1].status}"
    return "the batch did not answer this request"
