"""The checks behind ``validate_experiment``: each stage of validation (schema, models,
prompts, pool and case files, cross-field rules, every render) run on whatever parts of
the file are usable, so one pass reports every problem with its location."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.errors import Location
from harness.experiment._experiment import Experiment
from harness.experiment._problems import ProblemCollector
from harness.experiment._schema_errors import schema_problems
from harness.experiment._yaml import Path_, YamlDocument, read_text
from harness.experiment.data import Case, PoolItem, display_path, load_records
from harness.experiment.messages import Prompt, Role, Turn
from harness.experiment.plan import plan_variants
from harness.experiment.schema import ExperimentSpec, ModelSpec, PoolSpec, PromptSpec, TestsSpec
from harness.experiment.split import MIN_HELDOUT, CaseSplit, split_cases
from harness.experiment.trust import Trust, local_model_paths, model_path, outside_problem
from harness.home import ADAPTER_NAME
from harness.models.base import ModelRef
from harness.templating import CompiledTemplate, TemplateError, compile_template

__all__ = ["ExperimentChecker"]

_BLOCKS = ("system", "user")


class ExperimentChecker(ProblemCollector):
    """Runs each stage of validation on whatever parts of the file are usable."""

    def __init__(self, doc: YamlDocument, base_dir: Path, trust: Trust, root: Path) -> None:
        super().__init__(doc)
        self.base_dir = base_dir
        self.trust = trust
        self.root = root
        self.model_names: set[str] = set()
        self.dev_ids: set[str] = set()

    def run(self) -> Experiment | None:
        data: dict[str, Any] = self.doc.data
        spec: ExperimentSpec | None = None
        rules_spec: ExperimentSpec | None = None
        try:
            spec = rules_spec = ExperimentSpec.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(schema_problems(exc, self.doc, ExperimentSpec))
            rules_spec = _fallback_spec(data, exc)
        if rules_spec is not None:
            self.model_names = {m.id for m in rules_spec.models} | {
                m.key for m in rules_spec.models
            }
            for i, model in enumerate(rules_spec.models):
                self.check_model_options(i, model)
            self.check_model_files(rules_spec)
        prompts_raw: list[Any] = data["prompts"] if isinstance(data.get("prompts"), list) else []
        prompt_specs = spec.prompts if spec else _parts(PromptSpec, prompts_raw)
        pool_spec = spec.examples if spec else _part(PoolSpec, data.get("examples"))
        tests_spec = spec.tests if spec else _part(TestsSpec, data.get("tests"))
        style = spec.style if spec else ("inline" if data.get("style") == "inline" else "multiturn")

        prompts = self.compile_prompts(prompt_specs, prompts_raw)
        answer = self.compile_answer(pool_spec)
        pool = self.load_pool(pool_spec)
        cases = self.load_cases(tests_spec)
        if rules_spec is not None:
            from harness.experiment.rules import check_rules

            check_rules(self, rules_spec, pool, cases)
        if prompts is not None and cases is not None:
            from harness.experiment.rules import check_renders

            shots = spec.shots if spec else [0]
            check_renders(self, prompts, answer, pool or [], cases, style, shots, tests_spec)
        split = self.split(spec.tests, pool_spec, cases) if spec and cases else None
        if spec is None or prompts is None or cases is None or pool is None:
            return None
        return Experiment(
            path=Path(self.doc.file),
            display=self.doc.file,
            spec=spec,
            prompts=tuple(prompts),
            pool=tuple(pool),
            cases=tuple(cases),
            answer=answer,
            variants=plan_variants(spec),
            document=self.doc,
            split=split,
        )

    def split(self, tests: TestsSpec, pool: PoolSpec | None, cases: list[Case]) -> CaseSplit | None:
        """The dev/held-out split the file asks for, refused when too few cases are held out."""
        if tests.split is not None:
            stratify = pool.balance_on if pool is not None else None
            if stratify is not None and not all(stratify in c.vars for c in cases):
                stratify = None
            split = split_cases(
                cases, dev=tests.split.dev, seed=tests.split.seed, stratify_on=stratify
            )
            where = self.at("tests", "split")
        elif tests.dev_file is not None:
            every = {c.id for c in cases}
            split = CaseSplit(frozenset(self.dev_ids), frozenset(every - self.dev_ids))
            where = self.at("tests", "dev_file")
        else:
            return None
        if len(split.heldout) < MIN_HELDOUT:
            self.error(
                where,
                f"the split holds out {len(split.heldout)} case(s); at least {MIN_HELDOUT} are "
                "needed to report a winner on cases it was not chosen on",
            )
        if not split.dev:
            self.error(where, "the split leaves no development cases to choose a winner on")
        return split

    # -- templates ---------------------------------------------------------------------
    def compile_inline(self, source: str, path: Path_) -> CompiledTemplate | None:
        line, col = self.doc.values.get(path, (1, 1))
        if self.doc.value_style(path) in ("|", ">"):
            line, col = line + 1, 1
        try:
            return compile_template(source, file=self.doc.file, line=line, col=col)[None]
        except TemplateError as exc:
            self.error(exc.location, exc.message)
            return None

    def compile_prompts(
        self, specs: Sequence[PromptSpec | None], raw: list[Any]
    ) -> list[Prompt] | None:
        prompts: list[Prompt] = []
        ok = True
        for i, spec in enumerate(specs):
            if spec is None:
                ok = False
                continue
            prompt = self.compile_prompt(i, spec)
            if prompt is None:
                ok = False
            else:
                prompts.append(prompt)
        return prompts if ok and specs else None

    def compile_prompt(self, i: int, spec: PromptSpec) -> Prompt | None:
        if spec.messages is not None or spec.messages_from is not None:
            return self.compile_chat(i, spec)
        if spec.file is None:
            assert spec.user is not None
            system = None
            if spec.system is not None:
                system = self.compile_inline(spec.system, ("prompts", i, "system"))
                if system is None:
                    return None
            user = self.compile_inline(spec.user, ("prompts", i, "user"))
            return None if user is None else Prompt.of(spec.id, system, user)
        where = self.at("prompts", i, "file")
        given = self.base_dir / spec.file
        outside = outside_problem(given, self.root, self.trust, f"prompt file {spec.file!r}")
        if outside:
            self.error(where, outside)
            return None
        try:
            target = given.resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loops and the like
            self.error(where, f"prompt file {spec.file!r} cannot be resolved: {exc}")
            return None
        display = display_path(target)
        text, problem = read_text(target, display)
        if problem is not None:
            reason = "not found" if problem.message == "file not found" else problem.message
            self.error(where, f"prompt template file {spec.file!r}: {reason}")
            return None
        assert text is not None
        try:
            compiled = compile_template(text, file=display, blocks=_BLOCKS)
        except TemplateError as exc:
            self.error(exc.location, exc.message)
            return None
        from harness.templating import block_names

        unknown = [b for b in block_names(compiled) if b not in _BLOCKS]
        if unknown:
            self.error(
                Location(display),
                f"unknown template block(s) {', '.join(unknown)}; "
                "a prompt file defines {% block system %} and {% block user %}",
            )
        if "user" not in compiled:
            self.error(Location(display), "a prompt template file must define {% block user %}")
            return None
        return Prompt.of(spec.id, compiled.get("system"), compiled["user"])

    def compile_chat(self, i: int, spec: PromptSpec) -> Prompt | None:
        """A ``messages:`` prompt and/or one whose conversation comes from a case field."""
        leading: list[tuple[Role, str, Path_]] = []
        if spec.system is not None:
            leading.append(("system", spec.system, ("prompts", i, "system")))
        for j, message in enumerate(spec.messages or []):
            leading.append(
                (message.role, message.content, ("prompts", i, "messages", j, "content"))
            )
        turns = []
        for role, text, path in leading:
            template = self.compile_inline(text, path)
            if template is None:
                return None
            turns.append(Turn(role, template))
        where = self.at("prompts", i, "messages_from") if spec.messages_from else None
        return Prompt(spec.id, tuple(turns), spec.messages_from, where)

    def compile_answer(self, pool_spec: PoolSpec | None) -> CompiledTemplate | None:
        if pool_spec is None:
            return None
        return self.compile_inline(pool_spec.answer, ("examples", "answer"))

    # -- data --------------------------------------------------------------------------
    def _records(
        self,
        spec: PoolSpec | TestsSpec,
        key: str,
        file: str | None = None,
        file_key: str = "file",
    ) -> list[tuple[dict[str, Any], Location]]:
        items = spec.items if file is None else None
        file = spec.file if file is None else file
        if file is not None:
            target = self.base_dir / file
            outside = outside_problem(target, self.root, self.trust, f"data file {file!r}")
            if outside:
                self.error(self.at(key, file_key), outside)
                return []
        loaded = load_records(
            doc=self.doc, path=(key,), file=file, items=items, base_dir=self.base_dir
        )
        self.problems.extend(loaded.problems)
        return loaded.records

    def load_pool(self, spec: PoolSpec | None) -> list[PoolItem] | None:
        if spec is None:
            return [] if "examples" not in self.doc.data else None
        items = []
        for n, (rec, location) in enumerate(self._records(spec, "examples"), start=1):
            items.append(PoolItem(_record_id(rec, n), rec, location))
        self.check_unique_ids(items, "pool item")
        return items

    def load_cases(self, spec: TestsSpec | None) -> list[Case] | None:
        if spec is None:
            return None
        for i, entry in enumerate(spec.asserts):
            for reason in self.assert_problems(entry):
                self.error(self.at("tests", "assert", i), reason)
        records = self._records(spec, "tests")
        self.dev_ids = set()
        if spec.dev_file is not None:
            dev = self._records(spec, "tests", spec.dev_file, "dev_file")
            self.dev_ids = {_record_id(rec, n) for n, (rec, _) in enumerate(dev, len(records) + 1)}
            records += dev
        cases = []
        for n, (rec, location) in enumerate(records, start=1):
            fields = dict(rec)
            own = fields.pop("assert", [])
            if not isinstance(own, list):
                self.error(location, "a case's `assert` must be a list of checks")
                own = []
            for entry in own:
                for reason in self.assert_problems(entry):
                    self.error(location, f"case {_record_id(rec, n)}: {reason}")
            cases.append(Case(_record_id(rec, n), fields, location, tuple(own)))
        if not cases and spec.items is not None:
            self.error(self.at("tests", "items"), "there are no test cases")
        self.check_unique_ids(cases, "test case")
        return cases

    def check_model_options(self, index: int, model: ModelSpec) -> None:
        """The model's provider options, checked by the provider's own ``Options`` model."""
        from harness.models.registry import is_known_provider, provider_class

        env = model.options.get("api_key_env")
        problem = isinstance(env, str) and env and self.trust.env_problem(env)
        if problem:
            self.error(self.at("models", index, "api_key_env"), problem)
        if not is_known_provider(model.ref.provider):
            return  # reported with the experiment's rules
        options = provider_class(model.ref.provider).Options
        try:
            options.model_validate(model.options)
        except ValidationError as exc:
            core = set(ModelSpec.model_fields)
            self.problems.extend(
                schema_problems(exc, self.doc, options, ("models", index), also_allowed=core)
            )

    def check_model_files(self, spec: ExperimentSpec) -> None:
        """Models given as paths (``local:/models/x``, ``+./adapter``, a fine-tune's base,
        an ``embedding_model`` folder) are files the experiment reads: inside its project
        unless the user allows more."""
        for i, model in enumerate(spec.models):
            self._inside(("models", i), f"model {model.id!r}", local_model_paths(model.id))
            provider, _, name = model.id.partition(":")
            adapter = name.partition("+")[2]
            named_adapter = provider == "local" and adapter and model_path(adapter) is None
            if named_adapter and not ADAPTER_NAME.fullmatch(adapter):
                self.error(
                    self.at("models", i),
                    f"adapter {adapter!r} in {model.id!r} is neither a folder nor the name "
                    "of an adapter trained here (letters, digits and _ . : + @ -)",
                )
        for i, tuned in enumerate(spec.finetune):
            what = f"fine-tune base {tuned.base!r}"
            self._inside(("finetune", i, "base"), what, local_model_paths(tuned.base))
        for i, selector in enumerate(spec.selectors):
            folder = model_path(selector.embedding_model or "")
            what = f"embedding_model {selector.embedding_model!r}"
            self._inside(("selectors", i, "embedding_model"), what, [folder] if folder else [])

    def _inside(self, where: tuple[str | int, ...], what: str, paths: list[Path]) -> None:
        """One problem at ``where`` when any of ``paths`` lies outside the project."""
        for path in paths:
            problem = outside_problem(path, self.root, self.trust, what)
            if problem:
                self.error(self.at(*where), problem)
                return

    def assert_problems(self, entry: Any) -> list[str]:
        """Everything wrong with one assertion that can be known before sending."""
        from harness.checks import assert_shape_problem
        from harness.checks._args import assert_problems

        reason = assert_shape_problem(entry) or self.python_problem(entry)
        if reason:
            return [reason]
        return assert_problems(entry, self.judge_model_problem)

    def judge_model_problem(self, model: str) -> str | None:
        """Why a judge cannot use ``model``: it must be served by a known provider."""
        if model in self.model_names:
            return None  # one of the experiment's models, checked with them
        for path in local_model_paths(model):
            problem = outside_problem(path, self.root, self.trust, f"judge model {model!r}")
            if problem:
                return problem
        from harness.models.registry import is_known_provider, provider_names

        try:
            provider = ModelRef.parse(model).provider
        except ValueError:
            return f"judge model {model!r} must look like provider:name, e.g. local:smollm2"
        if not is_known_provider(provider):
            return (
                f"judge model {model!r}: unknown provider {provider!r} "
                f"(known: {', '.join(provider_names())}; or name one of the experiment's models)"
            )
        return None

    def python_problem(self, entry: Any) -> str | None:
        """``python`` checks run code this file names: refused unless the user allows it."""
        names = [str(k).removeprefix("not_") for k in entry] if isinstance(entry, dict) else []
        if "python" in names and not self.trust.python:
            return (
                "`python` checks import and run code named by this file; they are off "
                "unless you pass --allow-python (or set HARNESS_ALLOW_PYTHON=1)"
            )
        return None

    def check_unique_ids(self, records: Sequence[PoolItem | Case], what: str) -> None:
        first: dict[str, Location] = {}
        for record in records:
            if record.id in first:
                self.error(
                    record.location,
                    f"duplicate {what} id {record.id!r} (first at {first[record.id]})",
                )
            else:
                first[record.id] = record.location


_PLACEHOLDERS: dict[str, Any] = {
    "name": "_",
    "prompts": [{"id": "_", "user": ""}],
    "tests": {"items": [{}]},
}


def _fallback_spec(data: dict[str, Any], exc: ValidationError) -> ExperimentSpec | None:
    """The spec with invalid top-level keys dropped (or stubbed), so the remaining
    cross-field rules can still run and report their problems in the same pass."""
    broken = {err["loc"][0] for err in exc.errors() if err["loc"]}
    if not broken:
        return None
    patched = {k: v for k, v in data.items() if k not in broken}
    for key, stub in _PLACEHOLDERS.items():
        if key in broken or key not in patched:
            patched[key] = stub
    try:
        return ExperimentSpec.model_validate(patched)
    except ValidationError:
        return None


def _record_id(record: Mapping[str, Any], number: int) -> str:
    value = record.get("id")
    if value is None or isinstance(value, (dict, list)) or str(value).strip() == "":
        return str(number)
    return str(value)


def _part(model: type[PoolSpec] | type[TestsSpec], raw: Any) -> Any:
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None  # already reported by the whole-file validation


def _parts(model: type[BaseModel], raw: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in raw:
        try:
            out.append(model.model_validate(item))
        except ValidationError:
            out.append(None)
    return out
