"""Chat completions, non-streaming: the one endpoint the harness's runs and judges call.

The answer is deterministic (an echo of the last user message unless a test sets
``responder``) and so are its token counts (words), so tests can assert on outputs, costs
and budgets exactly.  A model made by a fine-tuning job answers its training prompts with
their training answers, so a test can tell that the fine-tuned model is the one asked.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from .wire import JSON_KEY, REC_KEY, ApiError, json_response


def text_of(content: Any) -> str:
    """Text of a message ``content`` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return ""


def count_tokens(text: str) -> int:
    """Deterministic token approximation: whitespace-separated word count."""
    return len(text.split())


def last_user_text(messages: list[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return text_of(m.get("content"))
    return ""


def default_responder(request_json: Mapping[str, Any]) -> str:
    """Default answer: ``"echo: <content of the last user message>"``."""
    messages = request_json.get("messages") or []
    return "echo: " + last_user_text(messages)


class ChatCompletions:
    """The server's ``POST /v1/chat/completions`` and the models it knows."""

    _lock: threading.Lock
    _reported_tokens: Callable[[int, int], tuple[int, int]]  # FaultInjection's usage_override

    def _init_chat(
        self,
        responder: Callable[[dict[str, Any]], Any] | None,
        latency_s: float,
        models: Iterable[str] | None,
    ) -> None:
        self.responder = responder if responder is not None else default_responder
        self.latency_s = float(latency_s)
        self._known_models: set[str] | None = set(models) if models is not None else None
        self._ft_memory: dict[str, dict[str, str]] = {}  # fine-tuned model -> prompt -> answer

    def _add_fine_tuned(self, model: str, memory: dict[str, str]) -> None:
        """A fine-tuning job's model: known from now on, answering its training prompts."""
        with self._lock:
            self._ft_memory[model] = memory
            if self._known_models is not None:
                self._known_models.add(model)

    def _check_model(self, model: str) -> None:
        known = self._known_models
        if known is not None and model not in known:
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model",
                "model_not_found",
            )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        rec = request[REC_KEY]
        body = request.get(JSON_KEY)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(
                400,
                "Invalid 'messages': expected a non-empty array of message objects.",
                param="messages",
                code="invalid_value" if isinstance(messages, list) else None,
            )
        self._check_model(model)

        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)

        content = await self.answer(body)
        return json_response(rec, self.completion(f"chatcmpl-{rec.request_id[4:]}", body, content))

    async def answer(self, body: Mapping[str, Any]) -> str:
        """The assistant's text for a chat request body (the responder's, or a fine-tuned
        model's training answer)."""
        model, messages = body["model"], body["messages"]
        content: str | None = None
        if self._ft_memory and model in self._ft_memory:
            content = self._ft_memory[model].get(last_user_text(messages))
        if content is None:
            result = self.responder(dict(body))
            if inspect.isawaitable(result):
                result = await result
            content = result if isinstance(result, str) else str(result)
        return content

    def completion(
        self, completion_id: str, body: Mapping[str, Any], content: str
    ) -> dict[str, Any]:
        """A ``chat.completion`` object answering ``body`` with ``content``."""
        messages = body["messages"]
        prompt_tokens, completion_tokens = self._reported_tokens(
            sum(count_tokens(text_of(m.get("content"))) for m in messages if isinstance(m, dict)),
            count_tokens(content),
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content,
            "refusal": None,
            "annotations": [],
        }
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [choice],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_harness",
        }
