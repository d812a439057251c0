"""Model providers behind a small registry: ``local:`` (in-process), ``openai:`` (HTTP), plug-ins.

A provider declares its ``Options`` and answers ``complete(ModelRequest) -> ModelResponse``;
the README's "Writing a provider" shows a whole one.
"""

from harness.models.base import (
    FatalModelError,
    GenerationParams,
    ModelRef,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    ProviderOptions,
    RequestError,
    RetryableError,
)
from harness.models.pricing import Price, price_for
from harness.models.registry import (
    DEFAULT_MODEL,
    ENTRY_POINT_GROUP,
    create_provider,
    model_identity,
    provider_class,
    provider_names,
    provider_options,
)

__all__ = [
    "DEFAULT_MODEL",
    "ENTRY_POINT_GROUP",
    "FatalModelError",
    "GenerationParams",
    "ModelRef",
    "ModelRequest",
    "ModelResponse",
    "Price",
    "Provider",
    "ProviderError",
    "ProviderOptions",
    "RequestError",
    "RetryableError",
    "create_provider",
    "model_identity",
    "price_for",
    "provider_class",
    "provider_names",
    "provider_options",
]
