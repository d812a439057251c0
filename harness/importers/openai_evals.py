"""``harness import openai-evals``: an OpenAI Evals eval as an experiment, graded the same way.

The source is an eval definition in a registry checkout (``evals/registry/evals/NAME.yaml``;
its data under ``evals/registry/data/``) or a bare samples ``.jsonl``. Samples become test
cases (``input`` kept as the conversation it is, ``ideal`` as it is), the eval's class
becomes the check with its exact rule (Match: ``starts_with_any``, Includes: ``includes``,
FuzzyMatch: ``fuzzy_match``), and ``few_shot_jsonl`` becomes the pool, shown with the
``first`` selector so the import asks exactly what the original asked (the first
``num_few_shot`` examples, before the last message); ``random`` and ``similar`` are written
beside it, commented out, to try. A model-graded eval (``ModelBasedClassify``) becomes a
``judge`` check with its spec's prompt (see ``_evals_modelgraded``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import ExperimentError, Location, Problem
from harness.experiment._yaml import YamlDocument, read_text
from harness.importers import _evals_modelgraded as modelgraded
from harness.importers._common import ImportedSuite, inside, jsonl, read_yaml, slug

__all__ = ["GRADERS", "import_openai_evals"]

#: Eval class -> (check name, its defaults for max_tokens): see tests/importers/fixtures/
#: openai_evals/GRADING.md for where each rule is in the Evals source.
GRADERS: dict[str, tuple[str, int | None]] = {
    "evals.elsuite.basic.match:Match": ("starts_with_any", 500),
    "evals.elsuite.basic.includes:Includes": ("includes", None),
    "evals.elsuite.basic.fuzzy_match:FuzzyMatch": ("fuzzy_match", 100),
}


def _fail(where: Location, message: str) -> ExperimentError:
    return ExperimentError([Problem(where, message)])


def _load_registry_file(path: Path) -> YamlDocument:
    return read_yaml(path, mapping="an eval registry file maps eval names to definitions")


def _choose(doc: YamlDocument, wanted: str | None) -> tuple[str, dict[str, Any]]:
    """The concrete eval (``class`` and ``args``) the file or ``--eval`` names."""
    data: dict[str, Any] = doc.data
    concrete = {k: v for k, v in data.items() if isinstance(v, dict) and "class" in v}
    aliases = {k: v["id"] for k, v in data.items() if isinstance(v, dict) and "id" in v}
    if wanted is not None:
        name = aliases.get(wanted, wanted)
        if name not in concrete:
            known = ", ".join(sorted(set(concrete) | set(aliases)))
            raise _fail(Location(doc.file), f"no eval {wanted!r} in this file (it has: {known})")
        return name, concrete[name]
    if len(concrete) != 1:
        known = ", ".join(sorted(concrete)) or "none"
        raise _fail(
            Location(doc.file),
            f"this file defines {len(concrete)} evals ({known}): choose one with --eval ID",
        )
    return next(iter(concrete.items()))


def _messages(value: Any) -> list[dict[str, str]] | None:
    """A sample's ``input`` as chat messages (a string is one user message)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        return None
    out = []
    for m in value:
        if not (isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")):
            return None
        if not isinstance(m.get("content"), str):
            return None
        kept = {"role": m["role"], "content": m["content"]}
        if isinstance(m.get("name"), str):
            kept["name"] = m["name"]
        out.append(kept)
    return out


def _ideal(value: Any) -> str | list[str] | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _question(messages: list[dict[str, str]]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def _read_jsonl(path: Path, suite: ImportedSuite, what: str) -> list[tuple[int, Any]]:
    display = str(path)
    text, problem = read_text(path, display)
    if problem is not None:
        raise ExperimentError([problem])
    assert text is not None
    if text.startswith("version https://git-lfs"):
        raise _fail(Location(display, 1, 1), "a Git LFS pointer, not the data: run `git lfs pull`")
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((n, json.loads(line)))
        except ValueError as exc:
            suite.warn(Location(display, n, 1), f"not JSON ({exc}); {what} not imported", what)
    return rows


def _cases(path: Path, suite: ImportedSuite, as_text: bool = False) -> list[dict[str, Any]]:
    cases = []
    for n, row in _read_jsonl(path, suite, "cases"):
        where = Location(str(path), n, 1)
        messages = _messages(row.get("input")) if isinstance(row, dict) else None
        ideal = _ideal(row.get("ideal")) if isinstance(row, dict) else None
        if messages is None:
            suite.warn(where, "`input` is neither text nor a list of chat messages", "cases")
        elif ideal is None:
            suite.warn(where, "`ideal` is neither text nor a list of texts", "cases")
        else:
            case = {"id": f"s{n}", "input": messages, "question": _question(messages)}
            if as_text:  # what a model-graded spec's {input} is
                case["input_text"] = modelgraded.conversation_text(messages)
            cases.append({**case, "ideal": ideal})
    suite.imported["cases"] += len(cases)
    return cases


def _pool(path: Path, suite: ImportedSuite, limit: int | None) -> list[dict[str, Any]]:
    """Few-shot samples (``example_user``/``example_assistant`` turns) as pool items."""
    pool = []
    for n, row in _read_jsonl(path, suite, "examples"):
        where = Location(str(path), n, 1)
        sample = row.get("sample") if isinstance(row, dict) else None
        turns = _messages(sample) if sample is not None else None
        if not turns:
            suite.warn(where, "no `sample` list of chat messages", "examples")
            continue
        asked = [
            {"role": "user", "content": t["content"]}
            if t.get("name") == "example_user"
            else {"role": t["role"], "content": t["content"]}
            for t in turns[:-1]
        ]
        answer = turns[-1]["content"]
        if turns[-1].get("name") not in ("example_assistant", None) or not asked:
            suite.warn(where, "the example does not end with an example_assistant turn", "examples")
            continue
        pool.append({"id": f"f{n}", "input": asked, "question": _question(asked), "answer": answer})
    suite.imported["examples"] += len(pool)
    if limit is not None and len(pool) < limit:
        suite.warn(Location(str(path)), f"num_few_shot is {limit} but the file has {len(pool)}")
    return pool


def import_openai_evals(
    source: Path, *, eval_id: str | None = None, registry_data: Path | None = None
) -> ImportedSuite:
    """The eval at ``source`` (a registry YAML or a samples JSONL) as an experiment."""
    source = source.resolve()
    definition: dict[str, Any]
    doc: YamlDocument | None = None
    data_dir: Path | None
    root: Path | None
    if source.suffix.lower() == ".jsonl":
        name, definition, data_dir, root = source.stem, {"class": None, "args": {}}, None, None
        where = Location(str(source))
    else:
        doc = _load_registry_file(source)
        name, definition = _choose(doc, eval_id)
        where = doc.locate((name,), key=True)
        root = source.parent.parent  # evals/registry/
        data_dir = registry_data.resolve() if registry_data else root / "data"
        if registry_data is not None:
            root = data_dir
    suite = ImportedSuite(slug(name), str(source), {})
    cls = definition.get("class")
    given = definition.get("args")
    args: dict[str, Any] = given if isinstance(given, dict) else {}
    check, default_max_tokens = GRADERS.get(str(cls), (None, None))
    assertion: dict[str, Any] | None = None
    if cls == modelgraded.CLASS and doc is not None:
        assertion = modelgraded.judge_check(doc, name, args, source.parent.parent, suite)
        check, sampled = "judge", args.get("sample_kwargs")
        default_max_tokens = dict(sampled if isinstance(sampled, dict) else {}).get(
            "max_tokens", 1024
        )
    if cls is not None and check is None:
        known = ", ".join([*GRADERS, modelgraded.CLASS])
        raise _fail(where, f"eval class {cls!r} cannot be imported (supported: {known})")
    if data_dir is None or root is None:
        samples_path = source
    else:
        samples = args.get("samples_jsonl")
        if not isinstance(samples, str):
            raise _fail(where, "the eval has no `samples_jsonl` argument")
        samples_path = inside(data_dir, samples, root, where)
    cases = _cases(samples_path, suite, as_text=check == "judge")
    if not cases:
        raise _fail(Location(str(samples_path)), "no sample could be imported")
    check = check or "starts_with_any"
    assertion = assertion or {check: "{{ ideal }}"}
    if check == "includes" and str(args.get("ignore_case", "")).lower() == "true":
        assertion = {"includes": {"value": "{{ ideal }}", "ignore_case": True}}
    suite.imported["checks"] += 1
    spec: dict[str, Any] = {"name": suite.name}
    description = definition.get("description") or _alias_description(source, name)
    if description:
        spec["description"] = str(description)
    params: dict[str, Any] = {"temperature": 0}
    max_tokens = args.get("max_tokens", default_max_tokens)
    if max_tokens is not None:
        params["max_tokens"] = int(max_tokens)
    spec["params"] = params
    spec["prompts"] = [{"id": "original", "messages_from": "input"}]
    suite.imported["prompts"] += 1
    files = {f"data/{suite.name}.jsonl": jsonl(cases)}
    few = args.get("few_shot_jsonl")
    if isinstance(few, str) and data_dir is not None and root is not None:
        k = int(args.get("num_few_shot", 0) or 0)
        pool = _pool(inside(data_dir, few, root, where), suite, k)
        files[f"data/{suite.name}_fewshot.jsonl"] = jsonl(pool)
        spec["examples"] = {
            "file": f"data/{suite.name}_fewshot.jsonl",
            "answer": "{{ answer }}",
            "match_on": "question",
        }
        spec["shots"] = [k]
        spec["selectors"] = ["first"]
        suite.suggestions["selectors"] = [
            "- random      # other examples for each case (add seeds: [0, 1, 2] to average)",
            "- similar     # the examples most like each case's question (BM25)",
        ]
    spec["tests"] = {"file": f"data/{suite.name}.jsonl", "assert": [assertion]}
    suite.spec = spec
    suite.files = files
    suite.header = [
        f"Imported from OpenAI Evals: {source}" + (f" (eval {name})" if data_dir else ""),
        f"Grader: {cls or 'none given (a bare samples file): Match'} -> `{check}`, "
        + (
            "with the spec's prompt as its rubric (see the warning below)."
            if check == "judge"
            else "with the same rule (see the README's table)."
        ),
        "Models: the experiment's default (the embedded local:smollm2); to ask OpenAI, add",
        "  models: [openai:gpt-4o-mini]   (the key comes from OPENAI_API_KEY)",
    ]
    return suite


def _alias_description(source: Path, name: str) -> str | None:
    """The description on the alias entry that points at ``name``, if any."""
    try:
        doc = _load_registry_file(source)
    except ExperimentError:
        return None
    for value in doc.data.values():
        if isinstance(value, dict) and value.get("id") == name and value.get("description"):
            return str(value["description"])
    return None
