"""Provider registry: ``provider:model`` ids resolve to provider classes.

Built-ins are ``local`` and ``openai``. Other packages add providers through the
``harness.providers`` entry-point group, e.g. in their pyproject.toml::

    [project.entry-points."harness.providers"]
    anthropic = "harness_anthropic:AnthropicProvider"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from harness.errors import HarnessError
from harness.experiment.schema import ModelSpec
from harness.models.base import Provider

__all__ = [
    "ENTRY_POINT_GROUP",
    "create_provider",
    "is_known_provider",
    "provider_class",
    "provider_names",
]

ENTRY_POINT_GROUP = "harness.providers"
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


def create_provider(spec: ModelSpec) -> Provider:
    """A provider instance for ``spec`` (``provider:model``)."""
    return provider_class(spec.id.partition(":")[0])(spec)
