"""Model providers behind a small registry: ``local:`` (in-process) and ``openai:`` (HTTP)."""

from harness.models.base import (
    FatalModelError,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    RequestError,
    RetryableError,
)
from harness.models.pricing import Price, price_for
from harness.models.registry import (
    ENTRY_POINT_GROUP,
    create_provider,
    provider_class,
    provider_names,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FatalModelError",
    "ModelRequest",
    "ModelResponse",
    "Price",
    "Provider",
    "ProviderError",
    "RequestError",
    "RetryableError",
    "create_provider",
    "price_for",
    "provider_class",
    "provider_names",
]
