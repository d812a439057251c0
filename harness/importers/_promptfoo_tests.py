"""promptfoo ``tests`` and ``defaultTest`` as one JSONL data file and ``tests.assert``.

A case keeps its vars as fields and its own assertions as its ``assert`` list. The merge
is promptfoo's (src/evaluator.ts): ``defaultTest.vars`` under the test's vars, the default
asserts before the test's (here: ``tests.assert``, checked first for every case), the
test's ``threshold`` over the default's; list-valued vars expand into one case per
combination (``generateVarCombinations``). CSV rows are read as ``testCaseFromCsvRow``
reads them (src/csv.ts).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ExperimentError, Location, Problem
from harness.experiment._yaml import YamlDocument, load_yaml_text, read_text
from harness.importers._common import ImportedSuite, inside
from harness.importers._promptfoo_asserts import assertion_from_string, convert_assertion

__all__ = ["TestReader", "js_float"]

_CODE_OR_BINARY = {".py", ".js", ".mjs", ".cjs", ".ts", ".pdf", ".png", ".jpg", ".jpeg", ".gif"}
_JS_FLOAT = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def js_float(value: Any) -> float | None:
    """JavaScript's ``Number.parseFloat``: the leading number, or None where it gives NaN."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if value == value else None
    match = _JS_FLOAT.match(str(value))
    return float(match.group()) if match else None


#: A promptfoo test case, where it is, and its path in the config (None: from a file).
Raw = tuple[dict[str, Any], Location, tuple[Any, ...] | None]


class TestReader:
    """Reads tests relative to the config's folder (and nowhere outside it)."""

    def __init__(self, suite: ImportedSuite, doc: YamlDocument, root: Path) -> None:
        self.suite, self.doc, self.root = suite, doc, root
        self.files: dict[str, str] = {}

    def read(self, name: str, where: Location) -> tuple[Path, str]:
        path = inside(self.root, name.removeprefix("file://"), self.root, where)
        text, problem = read_text(path, str(path))
        if problem is not None:
            raise ExperimentError([problem])
        assert text is not None
        return path, text

    def python_file(self, name: str, where: Location) -> str | None:
        file, _, function = name.partition(":")
        path, text = self.read(file, where)
        module = "pf_" + "".join(c if c.isalnum() else "_" for c in path.stem)
        self.files[f"{module}.py"] = text
        return f"{module}:{function or 'get_assert'}"

    # -- where tests come from -------------------------------------------------------------

    def raw_tests(self, tests: Any, path: tuple[Any, ...]) -> list[Raw]:
        where = self.doc.locate(path)
        if isinstance(tests, str):
            return self.from_file(tests, where)
        if not isinstance(tests, list):
            raise ExperimentError([self.suite_problem(where, "`tests` is a list or a file://")])
        out: list[Raw] = []
        for i, test in enumerate(tests):
            if isinstance(test, str):
                out += self.from_file(test, self.doc.locate((*path, i)))
            elif isinstance(test, dict):
                out.append((test, self.doc.locate((*path, i)), (*path, i)))
            else:
                self.suite.warn(self.doc.locate((*path, i)), "not a test case", "cases")
        return out

    def suite_problem(self, where: Location, message: str) -> Problem:
        return Problem(where, message)

    def from_file(self, name: str, where: Location) -> list[Raw]:
        path, text = self.read(name, where)
        shown, suffix = str(path), path.suffix.lower()
        if suffix == ".csv":
            return self.csv_rows(text, shown)
        if suffix == ".jsonl":
            out: list[Raw] = []
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    test = json.loads(line)
                except ValueError as exc:
                    problem = Problem(Location(shown, n, 1), f"not JSON: {exc}")
                    raise ExperimentError([problem]) from None
                if isinstance(test, dict):
                    out.append((test, Location(shown, n, 1), None))
                else:
                    self.suite.warn(Location(shown, n, 1), "not a test case", "cases")
            return out
        if suffix in (".json", ".yaml", ".yml"):  # JSON read as YAML: each item located
            doc = load_yaml_text(text, shown)
            if suffix == ".json" and doc.problems:  # JSON that YAML refuses (tab indents)
                try:
                    items = json.loads(text)
                except ValueError as exc:
                    raise ExperimentError([Problem(Location(shown, 1, 1), str(exc))]) from None
                got = items if isinstance(items, list) else []
                return [(t, Location(shown, 1, 1), None) for t in got if isinstance(t, dict)]
            if doc.problems or not isinstance(doc.data, list):
                raise ExperimentError(
                    doc.problems
                    or [self.suite_problem(Location(shown, 1, 1), "a tests file is a list")]
                )
            return [
                (t, doc.locate((i,)), None) for i, t in enumerate(doc.data) if isinstance(t, dict)
            ]
        self.suite.warn(
            where, f"tests from a {suffix or 'extensionless'} file are not imported", "cases"
        )
        return []

    def csv_rows(self, text: str, shown: str) -> list[Raw]:
        reader = csv.DictReader(io.StringIO(text))
        out: list[Raw] = []
        line = 1
        for row in reader:
            where = Location(shown, line + 1, 1)
            line = reader.line_num
            out.append((self.csv_case(row, where), where, None))
        return out

    def csv_case(self, row: dict[str, str], where: Location) -> dict[str, Any]:
        """``testCaseFromCsvRow``: reserved ``__`` columns, the rest vars."""
        case: dict[str, Any] = {"vars": {}, "assert": []}
        configs: dict[int, float] = {}
        for key, value in row.items():
            key, value = (key or "").strip(), value or ""
            if key.startswith("__expected"):
                if value.strip():
                    case["assert"].append(assertion_from_string(value.strip()))
            elif key in ("__prefix", "__suffix", "__providerOutput"):
                if value:
                    case.setdefault("options", {})[key[2:]] = value
            elif key == "__threshold":
                case["threshold"] = js_float(value)
            elif key.startswith("__config:") and key.endswith(":threshold"):
                target = key.split(":")[1].removeprefix("__expected")
                number = js_float(value)
                if number is None or not target.isdigit() and target:
                    raise ExperimentError(
                        [Problem(where, f"{key}: {value!r} is not a threshold (promptfoo stops)")]
                    )
                configs[int(target) - 1 if target else 0] = number
            elif key in ("__description", "__metric", "__metadata") or key.startswith(
                "__metadata:"
            ):
                continue
            else:
                case["vars"][key] = value
        for index, threshold in configs.items():
            if index < len(case["assert"]):
                case["assert"][index]["threshold"] = threshold
        return case

    # -- cases -----------------------------------------------------------------------------

    def var_value(self, value: Any, where: Location) -> tuple[bool, Any]:
        if not (isinstance(value, str) and value.startswith("file://")):
            return True, value
        suffix = Path(value).suffix.lower()
        if suffix in _CODE_OR_BINARY:
            self.suite.warn(where, f"a var from {value} (code or binary) is not imported", "cases")
            return False, None
        _, text = self.read(value, where)
        if suffix in (".yaml", ".yml"):  # renderPrompt: JSON.stringify(yaml.load(text))
            return True, json.dumps(yaml.safe_load(text), separators=(",", ":"), ensure_ascii=False)
        return True, text.strip()  # renderPrompt: readFileSync(...).trim(), .json included

    def cases(
        self, raws: list[Raw], defaults: dict[str, Any], judge: str | None
    ) -> tuple[list[dict[str, Any]], list[float | None]]:
        """The case records, and each one's own threshold (None: it sets none)."""
        records: list[dict[str, Any]] = []
        thresholds: list[float | None] = []
        for test, where, path in raws:
            record = self.case(test, where, defaults, judge, path)
            if record is None:
                continue
            expanded = self.expand(record, len(records))
            records += expanded
            own = js_float(test.get("threshold")) or None  # `threshold ? {threshold} : {}`
            thresholds += [own] * len(expanded)
        self.suite.imported["cases"] += len(records)
        return records, thresholds

    def case(
        self, test: dict[str, Any], where: Location, defaults: dict[str, Any],
        judge: str | None, path: tuple[Any, ...] | None = None,
    ) -> dict[str, Any] | None:  # fmt: skip
        for key in test:
            if key not in ("vars", "assert", "description", "threshold", "metadata", "options"):
                self.suite.warn(where, f"test option `{key}` is not imported")
        options = test.get("options") or {}
        for key in options:
            if key != "provider":
                self.suite.warn(where, f"test option `options.{key}` is not imported")
        fields = dict(defaults)
        for name, value in (test.get("vars") or {}).items():
            ok, got = self.var_value(value, where)
            if not ok:
                return None
            fields[name] = got
        grader = options.get("provider") if isinstance(options.get("provider"), str) else judge
        own = [
            convert_assertion(
                a, self.suite, where if path is None else self.doc.locate((*path, "assert", n)),
                grader, self.python_file,
            )
            for n, a in enumerate(test.get("assert") or [])
        ]  # fmt: skip
        fields["assert"] = [a for a in own if a is not None]
        return fields

    def expand(self, record: dict[str, Any], before: int) -> list[dict[str, Any]]:
        """``generateVarCombinations``: one case per combination of list-valued vars."""
        lists = [k for k, v in record.items() if k != "assert" and isinstance(v, list)]
        combos = itertools.product(*(record[k] for k in lists)) if lists else [()]
        out: list[dict[str, Any]] = []
        for combo in combos:
            case = {**record, **dict(zip(lists, combo, strict=True))}
            if "id" not in case:
                case = {"id": f"t{before + len(out) + 1}", **case}
            out.append(case)
        return out
