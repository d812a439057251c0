"""``harness import promptfoo``: a promptfoo config as an experiment, graded the same way.

promptfoo configs are widely shared, so a team moving here keeps its suites. Prompts
(inline, ``file://`` text split at ``---``, JSON chats, Nunjucks ``.j2``/``.njk``) become
prompts, their Nunjucks translated to Jinja where the two differ (:mod:`._nunjucks`);
``openai:`` providers become models; tests (inline, CSV with ``__expected`` columns, JSONL,
JSON, YAML) become one JSONL data file where each case keeps its vars as fields and its
own ``assert`` list; ``defaultTest`` merges as promptfoo merges it (its vars are defaults
under each case's, its asserts come first for every case: ``tests.assert``);
``evaluateOptions.repeat`` becomes ``repeats``. Whatever cannot be carried over with the
same meaning is a warning located in the source, never a silent change; configs come from
strangers, so only files inside the config's folder are read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import ExperimentError, Location, Problem
from harness.experiment._yaml import YamlDocument
from harness.importers._common import ImportedSuite, jsonl, read_yaml, slug
from harness.importers._nunjucks import DUMP_DIFFERS, in_file, translate, uses_dump
from harness.importers._promptfoo_asserts import convert_assertion
from harness.importers._promptfoo_tests import TestReader, js_float

__all__ = ["import_promptfoo"]

_KNOWN = {"description", "prompts", "providers", "tests", "defaultTest", "evaluateOptions"}
_QUIET = {"outputPath", "sharing", "writeLatestResults", "tags", "assertionTemplates"}
_TEXT_PROMPTS = {".txt", ".md", ".j2", ".njk", ".nunjucks", ""}


def _fail(where: Location, message: str) -> ExperimentError:
    return ExperimentError([Problem(where, message)])


def _load(source: Path) -> YamlDocument:
    return read_yaml(source, mapping="a promptfoo config is a mapping")


def _resolve_refs(value: Any, data: dict[str, Any], where: Location) -> Any:
    """``$ref: '#/assertionTemplates/name'`` replaced by what it points at."""
    if isinstance(value, list):
        return [_resolve_refs(v, data, where) for v in value]
    if not isinstance(value, dict):
        return value
    ref = value.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = data
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                raise _fail(where, f"$ref {ref!r} points at nothing in this config")
            target = target[part]
        return _resolve_refs(target, data, where)
    return {k: _resolve_refs(v, data, where) for k, v in value.items()}


def _chat(text: str) -> list[dict[str, str]] | None:
    """A prompt that is a JSON list of ``{role, content}`` messages, as promptfoo reads it."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in value
        )
    ):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    return None


def _shown(threshold: float | None) -> str:
    return "none" if threshold is None else f"{threshold:g}"


class _Importer:
    def __init__(self, source: Path, doc: YamlDocument) -> None:
        self.source, self.doc, self.data = source, doc, doc.data
        name = source.parent.name if source.stem == "promptfooconfig" else source.stem
        self.suite = ImportedSuite(slug(name), str(source), {})
        self.reader = TestReader(self.suite, doc, source.parent)

    def prompt(
        self, pid: str, text: str, where: Location, file: tuple[str, str] | None
    ) -> dict[str, Any] | None:
        chat = _chat(text)
        parts = [m["content"] for m in chat] if chat else [text]
        translated = []
        for part in parts:
            got, why, at = translate(part)
            if got is None:
                place = where if file is None else in_file(*file, part, at)
                self.suite.warn(place, f"prompt {pid}: {why}; not imported", "prompts")
                return None
            if uses_dump(part):
                self.suite.warn(where, f"prompt {pid}: {DUMP_DIFFERS}")
            translated.append(got)
        self.suite.imported["prompts"] += 1
        if chat:
            msgs = [
                {"role": m["role"], "content": t} for m, t in zip(chat, translated, strict=True)
            ]
            return {"id": pid, "messages": msgs}
        return {"id": pid, "user": translated[0]}

    def prompt_texts(self, entry: Any, where: Location) -> tuple[list[str], tuple[str, str] | None]:
        """The prompts an entry holds, and the file (its name, its text) they come from."""
        if isinstance(entry, dict):
            entry = entry.get("raw") or entry.get("id")
        if not isinstance(entry, str):
            self.suite.warn(where, f"a prompt of {entry!r} is not imported", "prompts")
            return [], None
        if not entry.startswith("file://"):
            return [entry], None
        name = entry.removeprefix("file://")
        suffix = Path(name).suffix.lower()
        if "*" in name or ":" in name or suffix not in _TEXT_PROMPTS | {".json"}:
            self.suite.warn(
                where, f"prompts from {entry} (code, globs, tables) are not imported", "prompts"
            )
            return [], None
        path, text = self.reader.read(name, where)
        if suffix in (".txt", ".md", ""):  # processTxtFile: split at the delimiter, trimmed
            return [p.strip() for p in text.split("---") if p.strip()], (str(path), text)
        return [text], (str(path), text)

    def prompts(self) -> list[dict[str, Any]]:
        given = self.data.get("prompts")
        entries = given if isinstance(given, list) else [given] if given else []
        out: list[dict[str, Any]] = []
        for i, entry in enumerate(entries):
            where = self.doc.locate(("prompts", i) if isinstance(given, list) else ("prompts",))
            texts, file = self.prompt_texts(entry, where)
            for text in texts:
                made = self.prompt(f"p{len(out) + 1}", text, where, file)
                if made is not None:
                    out.append(made)
        return out

    def model(self, entry: Any, where: Location) -> dict[str, Any] | None:
        config: dict[str, Any] = {}
        if isinstance(entry, dict) and "id" not in entry and len(entry) == 1:
            ((pid, config),) = entry.items()  # {"openai:gpt-4": {config: ...}}
            config = (config or {}).get("config") or {}
        elif isinstance(entry, dict):
            pid, config = entry.get("id"), entry.get("config") or {}
        else:
            pid = entry
        parts = str(pid).split(":")
        if (
            parts[0] != "openai"
            or len(parts) < 2
            or parts[1] in ("completion", "embedding", "assistant", "image", "realtime")
        ):
            self.suite.warn(
                where, f"provider {pid!r} is not imported (only openai: chat models)", "models"
            )
            return None
        model: dict[str, Any] = {"id": "openai:" + parts[-1]}
        params = {
            k: float(config[k]) if k == "temperature" else int(config[k])
            for k in ("temperature", "max_tokens")
            if k in config
        }
        if config.get("apiBaseUrl"):
            model["base_url"] = str(config["apiBaseUrl"])
        elif config.get("apiHost"):
            model["base_url"] = f"https://{config['apiHost']}/v1"
        if params:
            model["params"] = params
        for key in set(config) - {"temperature", "max_tokens", "apiBaseUrl", "apiHost"}:
            self.suite.warn(where, f"provider option `{key}` is not imported")
        self.suite.imported["models"] += 1
        return model

    def models(self) -> list[dict[str, Any]]:
        given = self.data.get("providers")
        entries = given if isinstance(given, list) else [given] if given else []
        found = []
        for i, entry in enumerate(entries):
            where = self.doc.locate(("providers", i) if isinstance(given, list) else ("providers",))
            model = self.model(entry, where)
            if model is not None:
                found.append(model)
        return found

    def threshold(
        self, spec: dict[str, Any], default: float | None, own: list[float | None]
    ) -> None:
        """``test.threshold ?? defaultTest.threshold`` per case; here one applies to all."""
        each = {default if t is None else t for t in own}
        if len(each) == 1 and None not in each:
            spec["threshold"] = each.pop()
            return
        if default is not None:
            spec["threshold"] = default
        if len(each) > 1:
            self.suite.warn(
                self.doc.locate(("tests",)),
                f"per-test thresholds differ ({', '.join(sorted(_shown(t) for t in each))}); "
                + ("only the default's applies to all cases here" if default else "none applies"),
            )

    def tests(self) -> dict[str, Any]:
        default = self.data.get("defaultTest") or {}
        dwhere = self.doc.locate(("defaultTest",), key=True)
        if not isinstance(default, dict):
            self.suite.warn(dwhere, "a defaultTest from a file is not imported", "settings")
            default = {}
        default = _resolve_refs(default, self.data, dwhere)
        options = default.get("options") or {}
        judge = options.get("provider") if isinstance(options.get("provider"), str) else None
        for key in set(default) - {"vars", "assert", "options", "threshold", "metadata"}:
            self.suite.warn(dwhere, f"defaultTest `{key}` is not imported")
        for key in set(options) - {"provider"}:
            self.suite.warn(dwhere, f"defaultTest `options.{key}` is not imported")
        shared = [
            convert_assertion(
                a,
                self.suite,
                self.doc.locate(("defaultTest", "assert", i)),
                judge,
                self.reader.python_file,
            )
            for i, a in enumerate(default.get("assert") or [])
        ]
        tests = self.data.get("tests")
        raws = (
            self.reader.raw_tests(_resolve_refs(tests, self.data, dwhere), ("tests",))
            if tests
            else []
        )
        defaults = dict(default.get("vars") or {})
        records, thresholds = self.reader.cases(raws, defaults, judge)
        if not records:
            raise _fail(
                self.doc.locate(("tests",), key=True)
                if tests
                else Location(str(self.source), 1, 1),
                "no test case could be imported",
            )
        name = self.suite.name
        self.suite.files[f"data/{name}.jsonl"] = jsonl(records)
        self.suite.files.update(self.reader.files)
        spec: dict[str, Any] = {"file": f"data/{name}.jsonl"}
        spec["assert"] = [a for a in shared if a is not None]
        self.threshold(spec, js_float(default.get("threshold")) or None, thresholds)
        return spec


def import_promptfoo(source: Path) -> ImportedSuite:
    """The promptfoo config at ``source`` as an experiment."""
    source = source.resolve()
    doc = _load(source)
    imp = _Importer(source, doc)
    suite, data = imp.suite, doc.data
    for key in data:
        if key not in _KNOWN | _QUIET:
            suite.warn(doc.locate((key,), key=True), f"`{key}` is not imported", "settings")
    spec: dict[str, Any] = {"name": suite.name}
    if isinstance(data.get("description"), str):
        spec["description"] = data["description"]
    models = imp.models()
    if models:
        spec["models"] = models
    spec["prompts"] = imp.prompts()
    if not spec["prompts"]:
        where = (
            doc.locate(("prompts",), key=True) if "prompts" in data else Location(str(source), 1, 1)
        )
        raise _fail(where, "no prompt could be imported")
    options = data.get("evaluateOptions")
    repeat = options.get("repeat") if isinstance(options, dict) else None
    if repeat is not None and str(repeat) != "1":
        spec["repeats"] = int(repeat)
    spec["tests"] = imp.tests()
    suite.spec = spec
    suite.header = [
        f"Imported from promptfoo: {source}",
        "Checks keep promptfoo's rules (see the README's table); warnings below say what differs.",
    ]
    if not models:
        suite.header += [
            "Models: the experiment's default (the embedded local:smollm2); to ask OpenAI, add",
            "  models: [openai:gpt-4o-mini]   (the key comes from OPENAI_API_KEY)",
        ]
    return suite
