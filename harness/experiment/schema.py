"""The experiment file's schema: pydantic models with ``extra="forbid"`` so typos fail loudly.

Values arrive from :mod:`harness.experiment._yaml` as strings; pydantic's lax mode turns
``"3"`` into 3 where the schema wants a number. Shorthands people write in YAML
(``models: [local:smollm2]``, ``selectors: [random, {fixed: [a, b]}]``) are expanded by
``mode="before"`` validators into the full mapping form, so error locations stay simple
paths into the document.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.models.base import ModelRef
from harness.models.registry import DEFAULT_MODEL

__all__ = [
    "DEFAULT_MODEL",
    "SELECTOR_NAMES",
    "DataSpec",
    "FinetuneSpec",
    "ExperimentSpec",
    "ModelSpec",
    "Params",
    "PoolSpec",
    "PromptSpec",
    "SelectorSpec",
    "TestsSpec",
]

SELECTOR_NAMES = ("fixed", "first", "random", "balanced", "similar")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+@-]*$")


def _check_path(value: str | None) -> str | None:
    if value is not None and ("\0" in value or len(value) > 1024 or not value.strip()):
        raise ValueError("a file path must be 1 to 1024 characters with no NUL byte")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"{what} {value!r} must start with a letter or digit and use only letters, "
            "digits and _ . : + @ - (it becomes part of variant ids)"
        )
    return value


class Params(_Strict):
    """Generation parameters passed to every model (a model may override them)."""

    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=1, le=1_000_000)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: list[str] | None = None
    response_format: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = Field(
        None, description="Extra fields sent as-is to OpenAI-compatible servers"
    )

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _document_builtin_options(schema: dict[str, Any]) -> None:
    """The JSON schema lists the built-in providers' options (plug-ins add their own)."""
    from harness.models.local import LocalOptions
    from harness.models.openai import OpenAIOptions

    properties = schema.setdefault("properties", {})
    for options in (OpenAIOptions, LocalOptions):
        for name, prop in options.model_json_schema()["properties"].items():
            properties.setdefault(name, prop)


class ModelSpec(BaseModel):
    """A model to query: ``provider:name``, how the harness uses it, and its provider's options.

    Keys other than the fields below are the provider's own options (``base_url`` for
    ``openai:``, ``batch_size`` for ``local:``, a plug-in's); the provider's ``Options``
    model validates them, and ``harness validate`` reports a bad one at its line.
    """

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        populate_by_name=True,
        json_schema_extra=_document_builtin_options,
    )

    id: str = Field(description="provider:model, e.g. local:smollm2 or openai:gpt-4o-mini")
    label: str | None = Field(None, description="Short name used in variant ids")
    concurrency: int | None = Field(None, ge=1, le=10_000)
    params: Params | None = None
    price: dict[str, float] | None = Field(
        None,
        description="USD per million tokens: {input: ..., output: ...}, and for batch mode "
        "batch_input/batch_output (default: half)",
    )
    compute_price: float | None = Field(
        None,
        ge=0,
        lt=1e6,
        description="USD per hour of the machine that runs this model (a GPU- or CPU-hour). "
        "`harness decide` prices each query by the machine seconds it measured (a local "
        "batch's time shared among its rows; a server's time shared among the requests in "
        "flight, for a model served elsewhere, which is timed only when this is set) and a "
        "local adapter's training by its training time. Default for local models run on a "
        "CPU: DEFAULT_CPU_HOUR_PRICE in harness/models/pricing.py (0.10, a 2-vCPU cloud VM); "
        "a local adapter without its own takes its base model's",
    )
    adapter: str | None = Field(
        None,
        description="The LoRA adapter (trained here: `harness finetune train --name NAME`, "
        "then `harness finetune export`) that this model serves, e.g. `openai:date-lora` on a "
        "vLLM or llama.cpp server at base_url: `harness decide` treats the model as that "
        "adapter's fine-tuned model, with its training time, data and base",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"id": value} if isinstance(value, str) else value

    @field_validator("adapter")
    @classmethod
    def _adapter_name(cls, value: str | None) -> str | None:
        if value is not None and (not _ID.match(value) or len(value) > 200):
            raise ValueError(
                f"adapter {value!r} must be the name of an adapter trained here (a letter or "
                "digit, then letters, digits and _ . : + @ -), as `harness finetune train "
                "--name` gave it"
            )
        return value

    @field_validator("id")
    @classmethod
    def _provider_prefix(cls, value: str) -> str:
        ModelRef.parse(value)
        return value

    @property
    def ref(self) -> ModelRef:
        """The parsed ``provider:name``."""
        return ModelRef.parse(self.id)

    @property
    def options(self) -> dict[str, Any]:
        """The provider's options as written (validated by the provider's ``Options``)."""
        return dict(self.model_extra or {})

    @field_validator("price")
    @classmethod
    def _price_known(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for key, amount in (value or {}).items():
            if key not in ("input", "output", "batch_input", "batch_output"):
                raise ValueError(
                    "price has `input` and `output` (USD per million tokens; `batch_input` "
                    f"and `batch_output` for batch mode), not {key!r}"
                )
            if not 0 <= amount < 1e9:  # NaN fails too
                raise ValueError(f"price {key} must be between 0 and 1e9 USD per million tokens")
        return value

    @field_validator("label")
    @classmethod
    def _label_id(cls, value: str | None) -> str | None:
        return None if value is None else _check_id(value, "model label")

    @property
    def key(self) -> str:
        """How the model appears in variant ids."""
        return self.label or self.id


class MessageSpec(_Strict):
    """One message of a chat prompt; ``content`` is a template over the case's fields."""

    role: Literal["system", "user", "assistant"]
    content: str


class PromptSpec(_Strict):
    """One prompt: ``system``/``user`` templates, a template ``file``, or chat ``messages``;
    optionally the rest of the conversation from a case field (``messages_from``)."""

    id: str
    system: str | None = None
    user: str | None = None
    file: str | None = Field(
        None, description="Jinja2 file with {% block system %} and {% block user %}"
    )
    messages: list[MessageSpec] | None = Field(
        None, description="Chat messages, each {role, content}; content is a template"
    )
    messages_from: str | None = Field(
        None,
        description="A case field holding a list of {role, content} messages, sent as they "
        "are after the prompt's own messages (shots go before its last user message)",
    )

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return _check_id(value, "prompt id")

    _file_path = field_validator("file")(_check_path)

    @model_validator(mode="after")
    def _one_source(self) -> PromptSpec:
        given = [
            name
            for name, value in (("file", self.file), ("messages", self.messages))
            if value is not None
        ]
        if self.system is not None or self.user is not None:
            given.insert(0, "system/user")
        if len(given) > 1:
            both = " and ".join(f"`{g}`" for g in given)
            raise ValueError(f"give either `file`, `system`/`user` or `messages`, not {both}")
        if self.messages_from is not None:
            if self.file is not None or self.user is not None:
                raise ValueError(
                    "`messages_from` takes the conversation from the case: give the prompt's "
                    "leading turns as `system` or `messages`, not `user` or `file`"
                )
            return self
        if self.messages is not None:
            if not any(m.role == "user" for m in self.messages):
                raise ValueError("`messages` needs at least one user message")
        elif self.file is None and self.user is None:
            raise ValueError(
                "a prompt needs a `user` template (or a template `file`, chat `messages`, "
                "or `messages_from`)"
            )
        return self


class DataSpec(_Strict):
    """Records from a ``file`` (CSV, JSONL, JSON, YAML) or inline ``items``."""

    file: str | None = None
    items: list[dict[str, Any]] | None = None

    _file_path = field_validator("file")(_check_path)

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.file is None) == (self.items is None):
            raise ValueError("give exactly one of `file` or `items`")
        return self


class PoolSpec(DataSpec):
    """The few-shot pool."""

    answer: str = Field("{{ expected }}", description="Template for a shot's assistant turn")
    match_on: str = Field("input", description="Field compared by `similar` and leakage guard")
    balance_on: str | None = Field(None, description="Label field used by `balanced`")


class SplitSpec(_Strict):
    """A seeded split of the test cases into development and held-out cases."""

    dev: float = Field(
        0.5, gt=0, lt=1, description="Share of the cases used to choose the winner (dev)"
    )
    seed: int = Field(0, description="Seed of the split: the same seed, the same split")


class TestsSpec(DataSpec):
    """The test cases and the checks applied to every case."""

    split: SplitSpec | None = Field(
        None,
        description="Choose the winner on dev cases and report it on held-out cases "
        "(stratified by the pool's `balance_on` field when cases have it)",
    )
    dev_file: str | None = Field(
        None, description="Development cases from their own file; `file`/`items` are held out"
    )

    asserts: list[dict[str, Any]] = Field(default_factory=list, alias="assert")
    normalize: list[str | dict[str, str]] = Field(
        default_factory=list,
        description="Applied to outputs before checks: strip, lowercase, first_line, "
        "{extract: REGEX} (group 1 if any)",
    )
    threshold: float | None = Field(
        None, ge=0, le=1, description="Pass when the weighted check score reaches this"
    )

    _dev_file_path = field_validator("dev_file")(_check_path)

    @model_validator(mode="after")
    def _one_split(self) -> TestsSpec:
        if self.split is not None and self.dev_file is not None:
            raise ValueError("give `split` or `dev_file`, not both")
        return self

    @field_validator("normalize")
    @classmethod
    def _known_normalisers(cls, value: list[str | dict[str, str]]) -> list[str | dict[str, str]]:
        from harness.checks._args import normaliser_problem

        for step in value:
            problem = normaliser_problem(step)
            if problem:
                raise ValueError(problem)
        return value


class SelectorSpec(_Strict):
    """How shots are chosen from the pool for each case."""

    name: Literal["fixed", "first", "random", "balanced", "similar"]
    id: str | None = Field(None, description="Label in variant ids (default: the name)")
    ids: list[str] | None = Field(None, description="Pool ids, for `fixed`")
    method: Literal["bm25", "embedding"] = Field("bm25", description="For `similar`")
    embedding_model: str | None = Field(None, description="For `similar` with embeddings")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and "name" not in value and len(value) == 1:
            ((name, options),) = value.items()
            if name == "fixed" and isinstance(options, list):
                return {"name": "fixed", "ids": options}
            if name in SELECTOR_NAMES and isinstance(options, dict):
                return {"name": name, **options}
            if name in SELECTOR_NAMES and options is None:
                return {"name": name}
        return value

    @model_validator(mode="after")
    def _options_fit(self) -> SelectorSpec:
        if self.name == "fixed" and not self.ids:
            raise ValueError("the `fixed` selector needs `ids`, e.g. `- fixed: [ex1, ex2]`")
        if self.name != "fixed" and self.ids is not None:
            raise ValueError("`ids` applies only to the `fixed` selector")
        if self.id is not None:
            _check_id(self.id, "selector id")
        return self

    @property
    def key(self) -> str:
        if self.id:
            return self.id
        if self.name == "similar" and self.method != "bm25":
            return f"similar-{self.method}"
        return self.name

    @property
    def uses_seed(self) -> bool:
        """Seeds only change what random draws see; other selectors are deterministic."""
        return self.name in ("random", "balanced")


class FinetuneSpec(_Strict):
    """A fine-tuned model to train from the pool and evaluate beside the prompt variants."""

    name: str = Field(description="Adapter name (local) or job suffix (hosted)")
    base: str = Field("local:smollm2", description="local:MODEL (LoRA) or openai:MODEL (hosted)")
    prompt: str | None = Field(None, description="Prompt whose format to train and query with")
    epochs: int = Field(3, ge=1, le=100)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    rank: int = Field(16, ge=1, le=256)
    batch_size: int = Field(4, ge=1, le=512)
    sizes: list[int] = Field(default_factory=list, description="Nested training-set sizes")
    alpha: int | None = Field(None, ge=1, description="LoRA alpha (default: twice the rank)")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    target_modules: list[str] | None = Field(
        None, description="Modules to adapt (default: the architecture's attention projections)"
    )
    gradient_accumulation: int = Field(1, ge=1, le=1024, description="Batches per optimizer step")
    max_length: int = Field(512, ge=8, description="Tokens per example (longer are cut)")
    packing: bool = Field(False, description="Pack several examples into each sequence")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 on a GPU that has it, else fp32"
    )
    qlora: bool = Field(False, description="4-bit base model (CUDA and bitsandbytes only)")
    eval_fraction: float = Field(
        0.0, ge=0, le=0.5, description="Share of the training examples held out for eval loss"
    )
    early_stopping: int | None = Field(
        None, ge=1, description="Stop after this many epochs without a lower eval loss"
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_id(value, "fine-tune name")

    @property
    def trainer(self) -> str:
        return "openai" if self.base.startswith("openai:") else "local"


class ExperimentSpec(_Strict):
    """An experiment: prompts × shots × selectors × seeds × models over test cases."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={"title": "Harness experiment"},
    )

    name: str
    description: str | None = None
    models: list[ModelSpec] = Field(
        default_factory=lambda: [ModelSpec.model_validate(DEFAULT_MODEL)], min_length=1
    )
    params: Params = Field(default_factory=lambda: Params.model_validate({}))
    prompts: list[PromptSpec] = Field(min_length=1)
    examples: PoolSpec | None = None
    shots: list[int] = Field(default_factory=lambda: [0], min_length=1)
    selectors: list[SelectorSpec] = Field(
        default_factory=lambda: [SelectorSpec.model_validate("random")], min_length=1
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    style: Literal["multiturn", "inline"] = "multiturn"
    repeats: int = Field(1, ge=1, le=1000, description="Samples per (variant, case)")
    concurrency: int | None = Field(
        None, ge=1, le=10_000, description="Requests in flight per model (default: per provider)"
    )
    min_pass_rate: float | dict[str, float] | None = Field(
        None,
        description="Threshold for every variant, or per variant id glob: {'terse/*': 0.8}",
    )
    baseline: str | None = Field(None, description="Variant id every variant is compared with")
    finetune: list[FinetuneSpec] = Field(
        default_factory=list, description="Models fine-tuned on the pool, compared in the table"
    )
    tests: TestsSpec

    @field_validator("shots")
    @classmethod
    def _shots_non_negative(cls, value: list[int]) -> list[int]:
        for k in value:
            if k < 0 or k > 10_000:
                raise ValueError(f"shot count {k} must be between 0 and 10000")
        return value

    @field_validator("min_pass_rate")
    @classmethod
    def _rate_range(cls, value: float | dict[str, float] | None) -> float | dict[str, float] | None:
        rates = value.values() if isinstance(value, dict) else [] if value is None else [value]
        for rate in rates:
            if not 0 <= rate <= 1:  # NaN fails too
                raise ValueError(f"min_pass_rate {rate:g} must be a fraction between 0 and 1")
        return value

    @field_validator("seeds")
    @classmethod
    def _seed_range(cls, value: list[int]) -> list[int]:
        for seed in value:
            if not 0 <= seed < 2**63:
                raise ValueError(f"seed {seed} must be between 0 and 2**63-1")
        return value
