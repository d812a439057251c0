"""Model providers behind a small registry: ``local:`` (in-process) and ``openai:`` (HTTP)."""

from harness.models.base import ModelRequest, ModelResponse, Provider, ProviderError
from harness.models.pricing import Price, price_for
from harness.models.registry import (
    ENTRY_POINT_GROUP,
    create_provider,
    provider_class,
    provider_names,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ModelRequest",
    "ModelResponse",
    "Price",
    "Provider",
    "ProviderError",
    "create_provider",
    "price_for",
    "provider_class",
    "provider_names",
]
