"""File upload and fine-tuning jobs: the endpoints ``harness.finetune.hosted`` calls.

That is: ``POST /files`` (purpose "fine-tune"), and under ``/fine_tuning/jobs`` create,
list (to find a job whose creation answer was lost), retrieve, cancel, events and
checkpoints.  A job moves queued -> running -> succeeded (or failed) one retrieve at a time,
so a test sees every state the harness polls through without waiting hours, and how many
polls that takes (``ft_polls_to_finish``) and how it ends (``ft_outcome``) are the test's
to choose.  What the job trains on and produces is in :mod:`.training`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .training import Job, check_training_file, train, training_answers
from .wire import JSON_KEY, ORGANIZATION_ID, REC_KEY, ApiError, json_response

_AUTO = ("batch_size", "learning_rate_multiplier", "n_epochs")


def _page(request: web.Request, items: list[dict[str, Any]], default: int) -> dict[str, Any]:
    """Cursor page over ``items`` (already in the returned order): ``after`` and ``limit``."""
    raw = request.query.get("limit")
    try:
        limit = default if raw is None else int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid 'limit': {raw!r}", param="limit") from None
    if limit < 1:
        raise ApiError(400, "'limit' must be at least 1", param="limit")
    after = request.query.get("after")
    start = next((i + 1 for i, item in enumerate(items) if after and item["id"] == after), 0)
    data = items[start : start + limit]
    return {
        "object": "list",
        "data": data,
        "has_more": start + limit < len(items),
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


class FineTuning:
    """The server's uploaded files and fine-tuning jobs."""

    _ids: itertools.count[int]
    _known_models: set[str] | None
    _add_fine_tuned: Callable[[str, dict[str, str]], None]  # ChatCompletions': model answers

    def _init_jobs(self, ft_polls_to_finish: int, ft_outcome: str) -> None:
        self.ft_polls_to_finish = int(ft_polls_to_finish)
        self.ft_refuse: str | None = None  # set: job creation answers 403 with this message
        self.ft_outcome = ft_outcome
        self.files: dict[str, dict[str, Any]] = {}  # file id -> FileObject dict
        self.file_contents: dict[str, bytes] = {}
        self.jobs: dict[str, Job] = {}

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
            raise ApiError(400, "Expected a multipart/form-data body with 'file' and 'purpose'.")
        form = await request.post()
        purpose = form.get("purpose")
        upload = form.get("file")
        if not isinstance(purpose, str) or not purpose:
            raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose")
        if not isinstance(upload, web.FileField):
            raise ApiError(400, "Missing required parameter: 'file'.", param="file")
        obj = self._add_file(upload.filename or "upload", purpose, upload.file.read())
        return json_response(request[REC_KEY], obj)

    def _job(self, request: web.Request) -> Job:
        job_id = request.match_info["job_id"]
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(
                404,
                f"Could not find fine tune: {job_id}",
                param="fine_tune_id",
                code="fine_tune_not_found",
            )
        return job

    async def _create_job(self, request: web.Request) -> web.Response:
        if self.ft_refuse is not None:  # e.g. an organisation that no longer qualifies
            raise ApiError(403, self.ft_refuse, code="fine_tuning_unavailable")
        body = request.get(JSON_KEY)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        for param in ("model", "training_file"):
            if not isinstance(body.get(param), str) or not body[param]:
                raise ApiError(400, f"Missing required parameter: '{param}'.", param=param)
        model, training_file = body["model"], body["training_file"]
        if self._known_models is not None and model not in self._known_models:
            raise ApiError(
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
                raise ApiError(400, f"invalid {param}: {fid}", param=param, code="invalid_file")
            if fobj["purpose"] != "fine-tune":
                raise ApiError(
                    400,
                    f"File {fid} has purpose '{fobj['purpose']}', but fine-tuning requires "
                    "purpose 'fine-tune'.",
                    param=param,
                    code="invalid_file_purpose",
                )
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
            raise ApiError(400, "Invalid 'suffix': at most 64 characters.", param="suffix")

        method = body.get("method")
        if not isinstance(method, dict):
            hyper = body.get("hyperparameters") or {}
            method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
        if method.get("type", "supervised") != "supervised":  # the only kind the harness runs
            raise ApiError(400, f"Invalid method type: {method['type']!r}", param="method.type")
        section = method.get("supervised")
        section = section if isinstance(section, dict) else {}
        hp = dict(section.get("hyperparameters") or body.get("hyperparameters") or {})
        for key in _AUTO:
            hp.setdefault(key, "auto")
        method = dict(method, supervised=dict(section, hyperparameters=hp))

        job_id = self._new_id("ftjob-")
        seed = body.get("seed")
        obj: dict[str, Any] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": {k: hp[k] for k in _AUTO},
            "model": model,
            "organization_id": ORGANIZATION_ID,
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
        job = Job(obj, self._new_id)
        self.jobs[job_id] = job
        job.event(f"Created fine-tuning job: {job_id}")
        job.event(f"Validating training file: {training_file}")
        check_training_file(job, self.file_contents.get(training_file, b""))
        if job.problem is None:
            job.event("Files validated, moving job to queued state")
        self._advance(job)  # finishes at once when ft_polls_to_finish <= 0
        return json_response(request[REC_KEY], obj)

    def _finish(self, job: Job, failed_reason: str | None = None) -> None:
        obj = job.obj
        now = int(time.time())
        obj["finished_at"] = now
        obj["estimated_finish"] = None
        if failed_reason is not None:
            bad_file = "training file" in failed_reason
            obj["status"] = "failed"
            obj["error"] = {
                "code": "invalid_training_file" if bad_file else "failed",
                "message": failed_reason,
                "param": "training_file" if bad_file else None,
            }
            job.event(failed_reason, level="error")
            return
        n_epochs = obj["hyperparameters"]["n_epochs"]
        n_epochs = n_epochs if isinstance(n_epochs, int) else 3
        suffix = obj["user_provided_suffix"] or ""
        ft_model = f"ft:{obj['model']}:harness:{suffix}:{obj['id'][-8:]}"
        results = train(job, ft_model, n_epochs, now)
        obj["result_files"] = [
            self._add_file("step_metrics.csv", "fine-tune-results", results)["id"]
        ]
        obj["fine_tuned_model"] = ft_model
        obj["trained_tokens"] = job.n_words * n_epochs
        obj["status"] = "succeeded"
        job.event(f"New fine-tuned model created: {ft_model}")
        job.event("The job has successfully completed")
        data = self.file_contents.get(obj["training_file"], b"")
        self._add_fine_tuned(ft_model, training_answers(data))

    def _advance(self, job: Job) -> None:
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
            section = obj["method"]["supervised"]
            section["hyperparameters"] = dict(section.get("hyperparameters") or {}, **hp)
            job.event("Fine-tuning job started")
        if job.polls >= target:
            if self.ft_outcome == "failed":
                self._finish(job, failed_reason="Fine-tuning failed (injected by the fake server).")
            else:
                self._finish(job)

    async def _get_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        job.polls += 1
        self._advance(job)
        return json_response(request[REC_KEY], job.obj)

    async def _list_jobs(self, request: web.Request) -> web.Response:
        items = [j.obj for j in reversed(self.jobs.values())]  # newest first, like the API
        return json_response(request[REC_KEY], _page(request, items, 20))

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job = self._job(request)
        obj = job.obj
        if obj["status"] in ("succeeded", "failed", "cancelled"):
            raise ApiError(400, f"Job has already completed: {obj['id']}", param="fine_tune_id")
        obj["status"] = "cancelled"
        obj["finished_at"] = int(time.time())
        obj["estimated_finish"] = None
        job.event("Fine-tuning job cancelled")
        return json_response(request[REC_KEY], obj)

    async def _list_events(self, request: web.Request) -> web.Response:
        items = list(reversed(self._job(request).events))  # newest first, like the API
        return json_response(request[REC_KEY], _page(request, items, 20))

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        items = list(reversed(self._job(request).checkpoints))
        return json_response(request[REC_KEY], _page(request, items, 10))
