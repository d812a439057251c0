"""Provider registry: ``provider:model`` references resolve to provider classes.

Built-ins are ``local`` and ``openai``. Other packages add providers through the
``harness.providers`` entry-point group, e.g. in their pyproject.toml::

    [project.entry-points."harness.providers"]
    anthropic = "harness_anthropic:AnthropicProvider"
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import HarnessError, ModelError
from harness.models.base import ModelRef, Provider, ProviderOptions

__all__ = [
    "DEFAULT_MODEL",
    "ENTRY_POINT_GROUP",
    "create_provider",
    "is_known_provider",
    "model_identity",
    "provider_class",
    "provider_names",
    "provider_options",
]

ENTRY_POINT_GROUP = "harness.providers"
#: The model an experiment (or a judge) uses when it names none: the embedded one.
DEFAULT_MODEL = "local:smollm2"
_BUILTIN = {
    "local": "harness.models.local:LocalProvider",
    "openai": "harness.models.openai:OpenAIProvider",
}


def _load(target: str) -> type[Provider]:
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise HarnessError(f"{target} is not a harness Provider subclass")
    return cls


def is_known_provider(name: str) -> bool:
    """Whether ``name`` is a provider prefix; built-ins answer without scanning plug-ins."""
    return name in _BUILTIN or name in provider_names()


def provider_names() -> list[str]:
    """Every provider prefix known: built-ins and installed plugins."""
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(set(_BUILTIN) | plugins)


def provider_class(name: str) -> type[Provider]:
    """The class for a provider prefix (plugins may override built-ins)."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return _load(ep.value)
    if name in _BUILTIN:
        return _load(_BUILTIN[name])
    raise HarnessError(
        f"unknown model provider {name!r} (known: {', '.join(provider_names())}); "
        f"providers are registered in the {ENTRY_POINT_GROUP!r} entry-point group"
    )


def provider_options(ref: ModelRef, options: Mapping[str, Any]) -> ProviderOptions:
    """``options`` validated by the provider's own ``Options`` model."""
    cls = provider_class(ref.provider)
    try:
        return cls.Options.model_validate(dict(options))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ModelError(f"{ref}: {problems}") from None


def create_provider(
    ref: ModelRef, options: Mapping[str, Any] | None = None, *, home: Path | None = None
) -> Provider:
    """A provider instance for ``ref`` with its options (validated here)."""
    return provider_class(ref.provider)(ref, provider_options(ref, options or {}), home=home)


def model_identity(ref: ModelRef, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What keys this model's answers in the response cache."""
    return provider_class(ref.provider).identity(ref, provider_options(ref, options or {}))
