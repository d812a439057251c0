"""Cross-field rules and the render-everything check, run after the schema passes.

These catch what a schema cannot: shot counts larger than the pool, selectors whose
fields are missing, test cases that leak into the pool, and templates that fail on some
case. A template is rendered against every case now, so a missing variable is found
before 500 model calls rather than after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.checks import ArgRenderer, assert_shape_problem, split_assert
from harness.errors import Location
from harness.experiment._problems import ProblemCollector
from harness.experiment.data import Case, PoolItem
from harness.experiment.messages import Prompt, Shot, Style, build_messages
from harness.experiment.schema import ExperimentSpec, TestsSpec
from harness.templating import CompiledTemplate, TemplateError

__all__ = ["check_renders", "check_rules"]


def check_rules(
    c: ProblemCollector, spec: ExperimentSpec, pool: list[PoolItem] | None, cases: list[Case] | None
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


def _check_providers(c: ProblemCollector, spec: ExperimentSpec) -> None:
    from harness.models.registry import is_known_provider, provider_names

    for i, model in enumerate(spec.models):
        provider = model.ref.provider
        if not is_known_provider(provider):
            known = ", ".join(provider_names())
            c.error(
                c.at("models", i),
                f"unknown model provider {provider!r} in {model.id!r} (known: {known})",
            )


def _check_baseline(c: ProblemCollector, spec: ExperimentSpec) -> None:
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


def _unique(
    c: ProblemCollector, keys: list[str], section: str, field: str | None, what: str
) -> None:
    for i, key in enumerate(keys):
        if key in keys[:i]:
            where = c.at(section, i, field) if field else c.at(section, i)
            c.error(where, f"duplicate {what} {key!r}")


def _check_selectors(c: ProblemCollector, spec: ExperimentSpec, pool: list[PoolItem]) -> None:
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
    c: ProblemCollector, spec: ExperimentSpec, pool: list[PoolItem], cases: list[Case]
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

    def report(self, c: ProblemCollector) -> None:
        for (location, message), context in self.first.items():
            more = self.count[(location, message)] - 1
            suffix = f" (and {more} more)" if more else ""
            c.error(location, f"{message} [{context}]{suffix}")


def check_renders(
    c: ProblemCollector,
    prompts: Sequence[Prompt],
    answer: CompiledTemplate | None,
    pool: Sequence[PoolItem],
    cases: Sequence[Case],
    style: Style,
    shots: Sequence[int],
    tests_spec: TestsSpec | None,
) -> None:
    """Build every case's messages (and every pool item's, as a shot) as a run would.

    The messages come from :func:`build_messages`, the function rendering uses. Each case
    is built with no shots (when the plan has ``0``) and with the first pool items as
    shots; in multi-turn style the shots do not depend on the case, so each pool item is
    built once as a shot rather than once per case.
    """
    failures = _Failures()
    uses_pool = any(k > 0 for k in shots) and bool(pool)
    usable: list[tuple[PoolItem, Shot]] = []
    if uses_pool and answer is not None:
        for item in pool:
            try:
                usable.append((item, Shot(item.vars, answer.render(item.vars), item.id)))
            except TemplateError as exc:
                failures.add(exc, f"pool item {item.id}")
    shown = [shot for _, shot in usable[: max(shots)]]
    shot_sets: list[list[Shot]] = [[]] if 0 in shots or not uses_pool else []
    if uses_pool and style == "inline":
        shot_sets.append(shown)
    for prompt in prompts:
        built = [
            _try(failures, f"prompt {prompt.id}, case {case.id}", prompt, case.vars, shots, style)
            for case in cases
            for shots in shot_sets or [[]]
        ]
        if style == "multiturn" and built and built[0]:
            # The first case builds alone, so a failure now is the shot's own.
            for item, shot in usable:
                context = f"prompt {prompt.id}, pool item {item.id}"
                _try(failures, context, prompt, cases[0].vars, [shot], style)
    if tests_spec is not None:
        _check_assert_templates(c, failures, tests_spec, cases)
    failures.report(c)


def _try(
    failures: _Failures,
    context: str,
    prompt: Prompt,
    case_vars: Mapping[str, Any],
    shots: Sequence[Shot],
    style: Style,
) -> bool:
    """Build one case's messages; a failure is recorded and gives False."""
    try:
        build_messages(prompt, case_vars, shots, style)
    except TemplateError as exc:
        failures.add(exc, context)
        return False
    return True


def _check_assert_templates(
    c: ProblemCollector, failures: _Failures, spec: TestsSpec, cases: Sequence[Case]
) -> None:
    """Render every case's check arguments through the renderer the checks stage uses."""
    args = ArgRenderer(c.doc.file)

    def usable(entries: Sequence[Any], where: Sequence[Location]) -> list[Any]:
        out = []
        for entry, location in zip(entries, where, strict=True):
            if assert_shape_problem(entry) is not None:
                continue  # reported when the assertions were read
            broken = args.compile(entry, location)
            for exc in broken:
                c.error(exc.location, exc.message)
            if not broken:
                out.append(split_assert(entry)[2])
        return out

    defaults = usable(spec.asserts, [c.at("tests", "assert", i) for i in range(len(spec.asserts))])
    for case in cases:
        own = usable(case.asserts, [case.location] * len(case.asserts))
        for arg in defaults + own:
            try:
                args.render(arg, case.vars)
            except TemplateError as exc:
                failures.add(exc, f"assertion, case {case.id}")
