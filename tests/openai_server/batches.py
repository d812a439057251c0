"""The Batch API and file downloads: what a batch-mode run calls.

``POST /batches`` takes an uploaded JSONL file (purpose "batch") of chat requests; a batch
then moves ``validating -> in_progress -> finalizing -> completed`` one retrieve at a time
(``batch_polls_to_finish`` retrieves), so a test sees every state without waiting a day.
It ends as the test chooses (``batch_outcomes``, consumed one per batch, else
``batch_outcome``): ``completed``; ``expired`` with the first ``batch_expired_fraction`` of
its requests answered and the rest in the error file as ``batch_expired``; ``failed``
(validation failed: no output); or ``cancelled`` after ``POST /batches/{id}/cancel``, with
the part answered so far. Output lines come in a shuffled order (seeded), as the real
service promises no order; a request whose body is invalid or names an unknown model gets
an error line with its status code. ``GET /files/{id}/content`` serves every file.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from .wire import JSON_KEY, REC_KEY, ApiError, json_response

_ENDPOINT = "/v1/chat/completions"
_STATES = ("validating", "in_progress", "finalizing")


class Batches:
    """The server's batches (mixed into the server class beside FineTuning)."""

    _ids: itertools.count[int]
    files: dict[str, dict[str, Any]]
    file_contents: dict[str, bytes]
    _new_id: Callable[[str], str]
    _add_file: Callable[[str, str, bytes], dict[str, Any]]
    _check_model: Callable[[str], None]

    def _init_batches(
        self, polls_to_finish: int, outcome: str, expired_fraction: float, seed: int | None
    ) -> None:
        self.batch_polls_to_finish = int(polls_to_finish)
        self.batch_outcome = outcome
        self.batch_outcomes: list[str] = []  # consumed one per created batch, before the above
        self.batch_expired_fraction = float(expired_fraction)
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_id_override: str | None = None  # hostile: the id the next batches get
        self._batch_plan: dict[str, dict[str, Any]] = {}  # id -> polls left, outcome, lines
        self._batch_rng = random.Random(seed)

    # -- endpoints ----------------------------------------------------------------------
    async def _create_batch(self, request: web.Request) -> web.Response:
        body = request.get(JSON_KEY)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        file_id = body.get("input_file_id")
        if not isinstance(file_id, str) or file_id not in self.files:
            raise ApiError(400, f"Invalid 'input_file_id': {file_id!r}", param="input_file_id")
        if self.files[file_id]["purpose"] != "batch":
            raise ApiError(400, "The input file must have purpose 'batch'.", param="input_file_id")
        if body.get("endpoint") != _ENDPOINT:
            raise ApiError(400, f"Unsupported endpoint: {body.get('endpoint')!r}", param="endpoint")
        if body.get("completion_window") != "24h":
            raise ApiError(400, "completion_window must be '24h'", param="completion_window")
        lines = [
            line
            for line in self.file_contents[file_id].decode("utf-8").splitlines()
            if line.strip()
        ]
        batch_id = self.batch_id_override or self._new_id("batch_")
        now = int(time.time())
        batch: dict[str, Any] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": _ENDPOINT,
            "errors": None,
            "input_file_id": file_id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        outcome = self.batch_outcomes.pop(0) if self.batch_outcomes else self.batch_outcome
        self.batches[batch_id] = batch
        self._batch_plan[batch_id] = {
            "polls": self.batch_polls_to_finish,
            "outcome": outcome,
            "lines": lines,
        }
        return json_response(request[REC_KEY], batch)

    def _batch(self, request: web.Request) -> dict[str, Any]:
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            raise ApiError(404, f"No batch found with id '{request.match_info['batch_id']}'.")
        return batch

    async def _get_batch(self, request: web.Request) -> web.Response:
        batch = self._batch(request)
        await self._advance_batch(batch)
        return json_response(request[REC_KEY], batch)

    async def _cancel_batch(self, request: web.Request) -> web.Response:
        batch = self._batch(request)
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            raise ApiError(409, f"Cannot cancel a batch with status '{batch['status']}'.")
        batch["status"] = "cancelling"
        batch["cancelling_at"] = int(time.time())
        self._batch_plan[batch["id"]]["outcome"] = "cancelled"
        return json_response(request[REC_KEY], batch)

    async def _list_batches(self, request: web.Request) -> web.Response:
        from .jobs import _page

        items = sorted(self.batches.values(), key=lambda b: b["created_at"], reverse=True)
        return json_response(request[REC_KEY], _page(request, items, 20))

    async def _get_file(self, request: web.Request) -> web.Response:
        obj = self.files.get(request.match_info["file_id"])
        if obj is None:
            raise ApiError(404, f"No such File object: {request.match_info['file_id']}")
        return json_response(request[REC_KEY], obj)

    async def _file_content(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self.file_contents:
            raise ApiError(404, f"No such File object: {file_id}")
        request[REC_KEY].status = 200
        return web.Response(body=self.file_contents[file_id], content_type="application/jsonl")

    # -- the batch's life -----------------------------------------------------------------
    async def _advance_batch(self, batch: dict[str, Any]) -> None:
        """One retrieve's worth of progress: the next state, or the end."""
        plan = self._batch_plan[batch["id"]]
        status = batch["status"]
        if status in ("completed", "failed", "expired", "cancelled"):
            return
        if status == "cancelling":
            await self._finish_batch(batch, "cancelled", 0.5)
            return
        plan["polls"] -= 1
        if plan["polls"] > 0:
            step = min(_STATES.index(status) + 1, len(_STATES) - 1)
            batch["status"] = _STATES[step]
            batch[f"{_STATES[step]}_at"] = int(time.time())
            if _STATES[step] == "in_progress":
                batch["request_counts"]["completed"] = len(plan["lines"]) // 2
            return
        outcome = plan["outcome"]
        if outcome == "failed":
            batch.update(status="failed", failed_at=int(time.time()))
            batch["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": "Validation failed.", "line": 1}],
            }
            return
        answered = self.batch_expired_fraction if outcome == "expired" else 1.0
        await self._finish_batch(batch, outcome, answered)

    async def _finish_batch(self, batch: dict[str, Any], status: str, answered: float) -> None:
        lines = self._batch_plan[batch["id"]]["lines"]
        cut = round(answered * len(lines))
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for n, raw in enumerate(lines):
            request = json.loads(raw)
            custom_id = request.get("custom_id")
            line_id = f"batch_req_{batch['id'][6:]}{n:06d}"
            if n >= cut:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                errors.append(
                    {
                        "id": line_id,
                        "custom_id": custom_id,
                        "response": None,
                        "error": {"code": code, "message": f"The request was not run ({code})."},
                    }
                )
                continue
            output_line, failed = await self._answer_line(line_id, request)
            (errors if failed else output).append(output_line)
        self._batch_rng.shuffle(output)  # the service promises no order
        if output:
            batch["output_file_id"] = self._add_file(
                f"{batch['id']}_output.jsonl", "batch_output", _jsonl(output)
            )["id"]
        if errors:
            batch["error_file_id"] = self._add_file(
                f"{batch['id']}_error.jsonl", "batch_output", _jsonl(errors)
            )["id"]
        batch["request_counts"] = {
            "total": len(lines),
            "completed": len(output),
            "failed": len(errors),
        }
        batch["status"] = status
        batch[f"{status}_at"] = int(time.time())

    async def _answer_line(
        self, line_id: str, request: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """The output (or error) line answering one input line."""
        custom_id = request.get("custom_id")
        body = request.get("body")
        try:
            if request.get("method") != "POST" or request.get("url") != _ENDPOINT:
                raise ApiError(400, f"Unsupported url: {request.get('url')!r}", param="url")
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ApiError(400, "Invalid 'messages'.", param="messages")
            model = body.get("model")
            if not isinstance(model, str) or not model:
                raise ApiError(400, "you must provide a model parameter", param="model")
            self._check_model(model)
            content = await self.answer(body)  # type: ignore[attr-defined]
        except ApiError as exc:  # the responder may refuse a request the same way
            response = {"status_code": exc.status, "request_id": line_id, "body": exc.body}
            return {
                "id": line_id,
                "custom_id": custom_id,
                "response": response,
                "error": None,
            }, True
        completion = self.completion(f"chatcmpl-{line_id}", body, content)  # type: ignore[attr-defined]
        response = {"status_code": 200, "request_id": line_id, "body": completion}
        return {"id": line_id, "custom_id": custom_id, "response": response, "error": None}, False


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")
