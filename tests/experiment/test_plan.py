"""The variant plan: readable ids, k=0 collapsing, seedless selectors."""

from __future__ import annotations

from harness.experiment import ExperimentSpec, match_variants, plan_variants


def spec(**overrides: object) -> ExperimentSpec:
    data: dict[str, object] = {
        "name": "t",
        "prompts": [{"id": "terse", "user": "{{ input }}"}],
        "tests": {"items": [{"input": "a"}]},
        "shots": ["0", "3"],
        "selectors": ["random", "similar"],
        "seeds": ["0", "1"],
    }
    data.update(overrides)
    return ExperimentSpec.model_validate(data)


def test_ids_and_collapsing() -> None:
    ids = [v.id for v in plan_variants(spec())]
    assert ids == [
        "terse/k0/local:smollm2",
        "terse/k3/random/s0/local:smollm2",
        "terse/k3/random/s1/local:smollm2",
        "terse/k3/similar/local:smollm2",
    ]


def test_models_and_globs() -> None:
    variants = plan_variants(spec(models=["local:smollm2", {"id": "openai:gpt-4o-mini"}]))
    assert len(variants) == 8
    assert len(match_variants(variants, ["*/openai:gpt-4o-mini"])) == 4
    assert [v.id for v in match_variants(variants, ["terse/k3/similar/*"])] == [
        "terse/k3/similar/local:smollm2",
        "terse/k3/similar/openai:gpt-4o-mini",
    ]
