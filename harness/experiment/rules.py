"""Cross-field rules and the render-everything check, run after the schema passes.

These catch what a schema cannot: shot counts larger than the pool, selectors whose
fields are missing, test cases that leak into the pool, and templates that fail on some
case. A template is rendered against every case now, so a missing variable is found
before 500 model calls rather than after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import Location
from harness.experiment.data import Case, PoolItem
from harness.experiment.schema import ExperimentSpec, TestsSpec
from harness.templating import CompiledTemplate, TemplateError, compile_template

if TYPE_CHECKING:
    from harness.experiment.load import Prompt, _Checker

__all__ = ["check_renders", "check_rules"]


def check_rules(
    c: _Checker, spec: ExperimentSpec, pool: list[PoolItem] | None, cases: list[Case] | None
) -> None:
    """Rules across keys: ids unique, shots fit the pool, selector needs are met."""
    _unique(c, [p.id for p in spec.prompts], "prompts", "id", "prompt id")
    _unique(c, [m.key for m in spec.models], "models", None, "model")
    _unique(c, [s.key for s in spec.selectors], "selectors", None, "selector")
    for axis in ("shots", "seeds"):
        values: list[int] = getattr(spec, axis)
        for i, value in enumerate(values):
            if value in values[:i]:
                c.warn(c.at(axis, i), f"{axis} lists {value} twice; it is run once")
    _check_baseline(c, spec)
    _check_providers(c, spec)
    prompt_ids = {p.id for p in spec.prompts}
    for i, tuned in enumerate(spec.finetune):
        if tuned.prompt is not None and tuned.prompt not in prompt_ids:
            c.error(
                c.at("finetune", i, "prompt"),
                f"fine-tune prompt {tuned.prompt!r} is not "
                f"one of the prompts: {', '.join(sorted(prompt_ids))}",
            )
        if spec.examples is None:
            c.error(c.at("finetune", i), "fine-tuning trains on the pool: add `examples:`")
    uses_pool = any(k > 0 for k in spec.shots)
    if not uses_pool:
        return
    if spec.examples is None:
        i = next(i for i, k in enumerate(spec.shots) if k > 0)
        c.error(c.at("shots", i), "shots > 0 need a few-shot pool: add an `examples:` section")
        return
    if pool is None:
        return
    for i, k in enumerate(spec.shots):
        if k > len(pool):
            c.error(c.at("shots", i), f"{k} shots but the pool holds only {len(pool)} examples")
    _check_selectors(c, spec, pool)
    if cases is not None:
        _check_match_field(c, spec, pool, cases)


def _check_providers(c: _Checker, spec: ExperimentSpec) -> None:
    from harness.models.registry import is_known_provider, provider_names

    for i, model in enumerate(spec.models):
        provider = model.id.partition(":")[0]
        if not is_known_provider(provider):
            known = ", ".join(provider_names())
            c.error(
                c.at("models", i),
                f"unknown model provider {provider!r} in {model.id!r} (known: {known})",
            )


def _check_baseline(c: _Checker, spec: ExperimentSpec) -> None:
    """``baseline`` must name a variant the run has: a typo would silently drop it."""
    if spec.baseline is None:
        return
    from harness.experiment.plan import plan_variants

    ids = [v.id for v in plan_variants(spec)]
    tuned = [f"+{t.name}" for t in spec.finetune]
    if spec.baseline in ids or any(spec.baseline.endswith(t) for t in tuned):
        return
    import difflib

    hint = difflib.get_close_matches(spec.baseline, ids, n=1, cutoff=0.6)
    suffix = f"; did you mean {hint[0]!r}?" if hint else f" (variants: {', '.join(ids[:6])}...)"
    c.error(
        c.at("baseline"), f"baseline {spec.baseline!r} is not a variant of this experiment{suffix}"
    )


def _unique(c: _Checker, keys: list[str], section: str, field: str | None, what: str) -> None:
    for i, key in enumerate(keys):
        if key in keys[:i]:
            where = c.at(section, i, field) if field else c.at(section, i)
            c.error(where, f"duplicate {what} {key!r}")


def _check_selectors(c: _Checker, spec: ExperimentSpec, pool: list[PoolItem]) -> None:
    assert spec.examples is not None
    ids = {item.id for item in pool}
    max_k = max(spec.shots)
    for i, selector in enumerate(spec.selectors):
        where = c.at("selectors", i)
        if selector.name == "fixed":
            missing = [x for x in selector.ids or () if x not in ids]
            if missing:
                c.error(where, f"fixed selector names ids not in the pool: {', '.join(missing)}")
            if len(selector.ids or ()) < max_k:
                c.error(
                    where,
                    f"fixed selector lists {len(selector.ids or ())} ids but "
                    f"shots go up to {max_k}",
                )
        if selector.name == "balanced":
            field = spec.examples.balance_on
            if field is None:
                c.error(
                    where,
                    "the `balanced` selector needs `examples.balance_on` "
                    "(the label field to spread shots over)",
                )
                continue
            lacking = [item for item in pool if field not in item.vars]
            if lacking:
                c.error(
                    lacking[0].location,
                    f"pool item {lacking[0].id!r} has no field "
                    f"{field!r} (examples.balance_on); {len(lacking)} items lack it",
                )
        if selector.name == "similar" and selector.method == "embedding":
            # Found now, not at render time: a missing model would otherwise pass
            # validation and fail later. Cheap: file checks, nothing is loaded.
            from harness.shots.embedding import EmbeddingModelError, ensure_available

            try:
                ensure_available(selector.embedding_model)
            except EmbeddingModelError as exc:
                c.error(where, str(exc))


def _check_match_field(
    c: _Checker, spec: ExperimentSpec, pool: list[PoolItem], cases: list[Case]
) -> None:
    from harness.shots.selectors import normalise_text

    assert spec.examples is not None
    field = spec.examples.match_on
    where = (
        c.at("examples", "match_on")
        if "match_on" in (c.doc.data.get("examples") or {})
        else c.at("examples")
    )
    lacking_pool = [item for item in pool if field not in item.vars]
    if lacking_pool:
        c.error(
            lacking_pool[0].location,
            f"pool item {lacking_pool[0].id!r} has no field {field!r} (examples.match_on)",
        )
    lacking = [case for case in cases if field not in case.vars]
    if lacking:
        needs = any(s.name == "similar" for s in spec.selectors)
        message = (
            f"{len(lacking)} test case(s) have no field {field!r} (examples.match_on), "
            f"first {lacking[0].id!r}: "
            + (
                "`similar` cannot rank shots for them"
                if needs
                else "the leakage guard cannot check them"
            )
        )
        (c.error if needs else c.warn)(where, message)
    in_pool = {normalise_text(item.vars.get(field, "")) for item in pool}
    leaked = [
        case.id
        for case in cases
        if field in case.vars and normalise_text(case.vars[field]) in in_pool
    ]
    if leaked:
        shown = ", ".join(leaked[:10]) + (", ..." if len(leaked) > 10 else "")
        c.warn(
            c.at("tests"),
            f"{len(leaked)} of {len(cases)} test cases also appear in the "
            f"pool (by {field!r}): {shown}; they are never shown their own twin as a shot",
        )


class _Failures:
    """Groups identical template failures so 10,000 cases give one line, not 10,000."""

    def __init__(self) -> None:
        self.first: dict[tuple[Location, str], str] = {}
        self.count: dict[tuple[Location, str], int] = {}

    def add(self, exc: TemplateError, context: str) -> None:
        key = (exc.location, exc.message)
        self.first.setdefault(key, context)
        self.count[key] = self.count.get(key, 0) + 1

    def report(self, c: _Checker) -> None:
        for (location, message), context in self.first.items():
            more = self.count[(location, message)] - 1
            suffix = f" (and {more} more)" if more else ""
            c.error(location, f"{message} [{context}]{suffix}")


def check_renders(
    c: _Checker,
    prompts: Sequence[Prompt],
    answer: CompiledTemplate | None,
    pool: Sequence[PoolItem],
    cases: Sequence[Case],
    style: str,
    shots: Sequence[int],
    tests_spec: TestsSpec | None,
) -> None:
    """Render every template against every case (and every pool item used as a shot)."""
    failures = _Failures()
    uses_pool = any(k > 0 for k in shots) and bool(pool)
    examples: list[dict[str, Any]] = []
    if uses_pool and answer is not None:
        for item in pool:
            try:
                rendered = answer.render(item.vars)
            except TemplateError as exc:
                failures.add(exc, f"pool item {item.id}")
                continue
            if len(examples) < max(shots):
                examples.append({**item.vars, "answer": rendered})
    example_sets: list[list[dict[str, Any]]] = ([[]] if 0 in shots else []) + (
        [examples] if uses_pool else []
    )
    for prompt in prompts:
        if style == "multiturn" and uses_pool:
            for item in pool:
                _try(failures, prompt.user, item.vars, f"prompt {prompt.id}, pool item {item.id}")
        for case in cases:
            context = f"prompt {prompt.id}, case {case.id}"
            if prompt.system is not None:
                _try(failures, prompt.system, case.vars, context)
            if style == "inline":
                for shown in example_sets or [[]]:
                    _try(failures, prompt.user, {**case.vars, "examples": shown}, context)
            else:
                _try(failures, prompt.user, case.vars, context)
    if tests_spec is not None:
        _check_assert_templates(c, failures, tests_spec, cases)
    failures.report(c)


def _try(
    failures: _Failures, template: CompiledTemplate, variables: Mapping[str, Any], context: str
) -> None:
    try:
        template.render(variables)
    except TemplateError as exc:
        failures.add(exc, context)


def _check_assert_templates(
    c: _Checker, failures: _Failures, spec: TestsSpec, cases: Sequence[Case]
) -> None:
    compiled: dict[tuple[str, Location], CompiledTemplate | None] = {}

    def templates(value: Any, location: Location) -> list[CompiledTemplate]:
        if isinstance(value, str):
            if "{" not in value:
                return []
            key = (value, location)
            if key not in compiled:
                try:
                    compiled[key] = compile_template(
                        value, file=location.file, line=location.line, col=location.col
                    )[None]
                except TemplateError as exc:
                    c.error(exc.location, exc.message)
                    compiled[key] = None
            found = compiled[key]
            return [found] if found is not None else []
        if isinstance(value, Mapping):
            return [t for v in value.values() for t in templates(v, location)]
        if isinstance(value, list):
            return [t for v in value for t in templates(v, location)]
        return []

    defaults = [
        t
        for i, entry in enumerate(spec.asserts)
        for t in templates(entry, c.at("tests", "assert", i))
    ]
    for case in cases:
        own = [t for entry in case.asserts for t in templates(entry, case.location)]
        for template in defaults + own:
            _try(failures, template, case.vars, f"assertion, case {case.id}")
