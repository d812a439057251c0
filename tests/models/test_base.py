"""The provider contract's records: a reference parsed once, typed generation parameters."""

from __future__ import annotations

import pytest

from harness._run.cache import request_key
from harness.models import GenerationParams, ModelRef

LOCAL = {"provider": "local", "model": "smollm2", "base_url": None}


def test_a_model_reference_is_parsed_once_into_provider_and_name() -> None:
    ref = ModelRef.parse("openai:ft:gpt-4o-mini:org:name")
    assert (ref.provider, ref.name) == ("openai", "ft:gpt-4o-mini:org:name")
    assert str(ref) == "openai:ft:gpt-4o-mini:org:name"
    assert str(ModelRef.parse("local:smollm2+tuned")) == "local:smollm2+tuned"
    for bad in ("smollm2", ":x", "local:"):
        with pytest.raises(ValueError, match="must look like provider:name"):
            ModelRef.parse(bad)


def test_generation_params_give_back_exactly_what_was_set() -> None:
    given = {"temperature": 0.7, "max_tokens": 9, "stop": ["\n", "."], "seed": 3}
    params = GenerationParams.from_dict(given)
    assert params.stop == ("\n", ".") and params.top_p is None
    assert params.to_dict() == given
    with pytest.raises(TypeError):
        GenerationParams.from_dict({"temprature": 1})


def test_the_response_cache_key_is_unchanged_by_typed_params() -> None:
    # Pinned: computed by the harness before parameters were typed; a changed key would
    # make every user's cache miss.
    params = GenerationParams.from_dict({"temperature": 0.0, "max_tokens": 256, "stop": ["\n"]})
    key = request_key(LOCAL, ({"role": "user", "content": "2+2?"},), params, 0)
    assert key == "dee5018e9187475bbdd3030658b52f0875323a7839e6778558c6a29c46542ab0"
