"""Hosted fine-tuning through OpenAI's fine-tuning API (OpenAI, or any provider that speaks it).

A hosted job costs money and runs for hours, so each step is written to a local record
(``<home>/finetune/hosted_jobs.json``, replaced atomically) before the next one starts.
The record is keyed by what determines the result (file contents, base model, endpoint,
hyperparameters, suffix): :func:`start_job` with the same inputs returns the job already paid
for, an upload that happened before a crash is reused, and a job whose creation answer was
lost is found again by its (uniquely ours) training file id instead of being created twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob

from harness.errors import FinetuneError
from harness.home import harness_home, hosted_jobs_path

__all__ = [
    "OPENAI_CLOSING",
    "HostedJob",
    "cancel_job",
    "hosted_model_id",
    "is_openai_endpoint",
    "job_status",
    "list_jobs",
    "start_job",
    "wait_for_job",
]

_DEAD = frozenset({"failed", "cancelled"})  # a new start_job may pay again for these
_RECOVERY_SCAN = 100  # recent jobs searched for one whose creation answer was lost


@dataclass(frozen=True)
class HostedJob:
    """A provider's fine-tuning job, reduced to what the harness acts on."""

    id: str
    status: str
    model: str
    fine_tuned_model: str | None
    training_file: str
    created_at: int
    error: str | None
    trained_tokens: int | None

    @classmethod
    def from_api(cls, job: FineTuningJob) -> HostedJob:
        # OpenAI sends an error object with null fields for jobs that did not fail.
        error = job.error.message if job.error is not None and job.error.message else None
        fields = ("id", "status", "model", "fine_tuned_model", "training_file", "created_at")
        return cls(
            **{f: getattr(job, f) for f in fields}, error=error, trained_tokens=job.trained_tokens
        )


def hosted_model_id(job: HostedJob) -> str:
    """The model id an experiment uses for the job's result (``openai:ft:...``)."""
    if not job.fine_tuned_model:
        raise FinetuneError(f"fine-tuning job {job.id} has no model yet (status: {job.status})")
    return f"openai:{job.fine_tuned_model}"


#: OpenAI's own fine-tuning API is closing (its deprecations page): said before uploading.
OPENAI_CLOSING = (
    "OpenAI's own fine-tuning API is closing: since 2026-05-07 only organisations that "
    "still qualify can start jobs, none can after 2027-01-06, and the gpt-4o and gpt-4.1 "
    "families retire on 2027-01-14. The alternative that stays: --trainer local (LoRA on an "
    "open model, served with vLLM or llama.cpp). Other servers with the fine-tuning API "
    "(e.g. Azure OpenAI, through base_url) are not affected."
)
_REFUSED = re.compile(
    r"fine.?tun\w*.{0,80}(not (available|allowed|supported|enabled)|no longer|deprecat|disabled"
    r"|retired|closed)",
    re.IGNORECASE | re.DOTALL,
)


def is_openai_endpoint(base_url: str | None) -> bool:
    """Whether requests go to OpenAI's own API (no base_url, or api.openai.com)."""
    url = _resolve_url(base_url)
    return url is None or urllib.parse.urlsplit(url).hostname == "api.openai.com"


def start_job(
    train_file: Path,
    *,
    base: str,
    suffix: str | None = None,
    validation_file: Path | None = None,
    epochs: int | None = None,
    learning_rate_multiplier: float | None = None,
    batch_size: int | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    home: Path | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> HostedJob:
    """Upload the data and create a supervised job, or return the live job for these inputs.

    On OpenAI's own endpoint ``on_notice`` hears, before anything is uploaded, that its
    fine-tuning API is closing; a job refused for that reason is an error, never retried.
    """
    model = base.removeprefix("openai:")
    given = {"n_epochs": epochs, "learning_rate_multiplier": learning_rate_multiplier}
    hyper = {k: v for k, v in dict(given, batch_size=batch_size).items() if v is not None}
    if any(v <= 0 for v in hyper.values()):
        raise FinetuneError(f"hyperparameters must be positive, got {hyper}")
    url = _resolve_url(base_url)
    if on_notice is not None and is_openai_endpoint(url):
        on_notice(OPENAI_CLOSING)
    identity = {
        "training": _sha256(train_file),
        "validation": _sha256(validation_file) if validation_file else None,
        "model": model,
        "base_url": url,
        "hyperparameters": hyper,
        "suffix": suffix,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    path = _record_path(home)
    record = _load(path)
    entry = record.setdefault(key, {"key": key, **identity, "previous_job_ids": []})
    entry["training_path"] = str(train_file)
    entry["validation_path"] = str(validation_file) if validation_file else None
    with _client(url, api_key) as client:
        job = _existing_job(client, entry)
        if job is not None and job.status not in _DEAD:
            _note(entry, job)
            _save(path, record)
            return job
        if job is not None:  # failed or cancelled: start over, keeping its id for reference
            entry["previous_job_ids"].append(job.id)
            for field in ("job_id", "training_file_id", "validation_file_id"):
                entry.pop(field, None)
        if not entry.get("training_file_id"):
            entry["training_file_id"] = _upload(client, train_file)
            _save(path, record)
        if validation_file is not None and not entry.get("validation_file_id"):
            entry["validation_file_id"] = _upload(client, validation_file)
            _save(path, record)
        method: Any = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
        with _api_errors(f"creating a fine-tuning job on {model}"):
            # No automatic retry: a retried create whose first answer was lost pays twice.
            created = client.with_options(max_retries=0).fine_tuning.jobs.create(
                training_file=entry["training_file_id"],
                model=model,
                suffix=suffix if suffix is not None else openai.omit,
                validation_file=entry.get("validation_file_id") or openai.omit,
                method=method,
            )
        job = HostedJob.from_api(created)
        _note(entry, job)
        _save(path, record)
        return job


def wait_for_job(
    job_id: str,
    *,
    poll_s: float = 10.0,
    timeout_s: float | None = None,
    on_event: Callable[[str], None] | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    home: Path | None = None,
) -> HostedJob:
    """Poll until the job ends, reporting each new event and checkpoint once via ``on_event``.

    A failed or cancelled job raises :class:`FinetuneError` (with the provider's message); a
    timeout raises too, and the job keeps running: call again to resume waiting.
    """
    report = on_event or (lambda _line: None)
    seen: set[str] = set()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    path = _record_path(home)
    with _client(_job_url(job_id, base_url, path), api_key) as client:
        while True:
            job = _retrieve(client, job_id)
            _report_progress(client, job, seen, report)
            _update_record(path, job)
            if job.status == "succeeded":
                return job
            if job.status in _DEAD:
                why = f": {job.error}" if job.error else ""
                raise FinetuneError(f"fine-tuning job {job_id} {job.status}{why}")
            if deadline is not None and time.monotonic() >= deadline:
                raise FinetuneError(
                    f"fine-tuning job {job_id} is still {job.status} after {timeout_s:g}s; "
                    "it keeps running: wait for it again later"
                )
            time.sleep(poll_s)


def job_status(
    job_id: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    home: Path | None = None,
) -> HostedJob:
    """The job as the provider sees it now (the local record is updated)."""
    path = _record_path(home)
    with _client(_job_url(job_id, base_url, path), api_key) as client:
        job = _retrieve(client, job_id)
    _update_record(path, job)
    return job


def cancel_job(
    job_id: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    home: Path | None = None,
) -> HostedJob:
    """Cancel a queued or running job."""
    path = _record_path(home)
    with (
        _client(_job_url(job_id, base_url, path), api_key) as client,
        _api_errors(f"cancelling {job_id}"),
    ):
        job = HostedJob.from_api(client.fine_tuning.jobs.cancel(job_id))
    _update_record(path, job)
    return job


def list_jobs(home: Path | None = None) -> list[dict[str, Any]]:
    """Jobs in the local record, oldest first (no network: it may be stale)."""
    entries = _load(_record_path(home)).values()
    return sorted(entries, key=lambda e: (e.get("created_at") or 0, e["key"]))


# ------------------------------------------------------------------------------- helpers


def _resolve_url(base_url: str | None) -> str | None:
    url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    return url.rstrip("/") if url else None


def _job_url(job_id: str, base_url: str | None, path: Path) -> str | None:
    """The endpoint a job lives on: the argument, else the record's, else the environment."""
    if base_url:
        return _resolve_url(base_url)
    entry = next((e for e in _load(path).values() if e.get("job_id") == job_id), None)
    return entry["base_url"] if entry and entry.get("base_url") else _resolve_url(None)


@contextlib.contextmanager
def _client(base_url: str | None, api_key: str | None) -> Iterator[openai.OpenAI]:
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        if base_url is None:
            raise FinetuneError(
                "hosted fine-tuning needs an API key: set OPENAI_API_KEY (or pass api_key), "
                "or point OPENAI_BASE_URL at a provider that needs none"
            )
        key = "not-needed"
    with openai.OpenAI(api_key=key, base_url=base_url) as client:
        yield client


@contextlib.contextmanager
def _api_errors(what: str) -> Iterator[None]:
    """Turn the client's exceptions into one-line user errors."""
    try:
        yield
    except openai.APIStatusError as exc:
        body = exc.body
        error = body.get("error", body) if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        text = f"{what}: HTTP {exc.status_code}: {message or exc}"
        if exc.status_code == 403 or _REFUSED.search(str(message or "")):
            text += f". {OPENAI_CLOSING}"
        raise FinetuneError(text) from None
    except openai.APIError as exc:  # connection errors, timeouts, malformed answers
        raise FinetuneError(f"{what}: {type(exc).__name__}: {exc}") from None


def _retrieve(client: openai.OpenAI, job_id: str) -> HostedJob:
    with _api_errors(f"fetching fine-tuning job {job_id}"):
        return HostedJob.from_api(client.fine_tuning.jobs.retrieve(job_id))


def _report_progress(
    client: openai.OpenAI, job: HostedJob, seen: set[str], report: Callable[[str], None]
) -> None:
    """Report the job's events and checkpoints not in ``seen``, oldest first."""
    with _api_errors(f"listing events of {job.id}"):
        new = []
        for event in client.fine_tuning.jobs.list_events(job.id, limit=50):
            if event.id in seen:
                break  # newest first: everything older was reported already
            new.append(event)
        checkpoints = []
        if job.status in ("running", "succeeded"):
            checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    for event in reversed(new):
        seen.add(event.id)
        report(f"[{event.level}] {event.message}")
    for ckpt in sorted(checkpoints, key=lambda c: c.step_number):
        if ckpt.id not in seen:
            seen.add(ckpt.id)
            loss = ckpt.metrics.train_loss
            tail = f" (train loss {loss:.4f})" if loss is not None else ""
            report(f"checkpoint step {ckpt.step_number}: {ckpt.fine_tuned_model_checkpoint}{tail}")


def _existing_job(client: openai.OpenAI, entry: dict[str, Any]) -> HostedJob | None:
    """The job already created for this entry, if any (also one whose id was never recorded)."""
    if entry.get("job_id"):
        return _retrieve(client, entry["job_id"])
    file_id = entry.get("training_file_id")
    if not file_id:
        return None
    with _api_errors("listing fine-tuning jobs"):
        for job in itertools.islice(client.fine_tuning.jobs.list(limit=50), _RECOVERY_SCAN):
            if job.training_file == file_id:
                return HostedJob.from_api(job)
    return None


def _upload(client: openai.OpenAI, path: Path) -> str:
    with _api_errors(f"uploading {path}"), path.open("rb") as fh:
        return client.files.create(file=(path.name, fh), purpose="fine-tune").id


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise FinetuneError(f"cannot read {path}: {exc.strerror or exc}") from None


def _note(entry: dict[str, Any], job: HostedJob) -> None:
    entry.update(
        job_id=job.id,
        status=job.status,
        created_at=job.created_at,
        fine_tuned_model=job.fine_tuned_model,
        hosted_model=hosted_model_id(job) if job.fine_tuned_model else None,
        trained_tokens=job.trained_tokens,
        error=job.error,
        updated_at=int(time.time()),
    )


def _update_record(path: Path, job: HostedJob) -> None:
    record = _load(path)
    entry = next((e for e in record.values() if e.get("job_id") == job.id), None)
    if entry is not None and entry.get("status") != job.status:
        _note(entry, job)
        _save(path, record)


def _record_path(home: Path | None) -> Path:
    return hosted_jobs_path(harness_home(home))


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise FinetuneError(f"{path}: unreadable job record: {exc}") from None
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, dict):
        raise FinetuneError(f"{path}: not a hosted-job record (no 'jobs' object)")
    return jobs


def _save(path: Path, jobs: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": 1, "jobs": jobs}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
