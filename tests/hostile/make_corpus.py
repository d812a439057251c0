"""Write the hostile-input corpus under tests/hostile/corpus/ (deterministically).

    .venv/bin/python tests/hostile/make_corpus.py

Each case is a folder ``NNN-short-name/`` holding ``exp.yaml`` (or, for path-traversal
cases, ``project/exp.yaml`` beside an ``outside/`` folder, with a ``project/pyproject.toml``
marking the project root) plus any data or template files, and ``expect.txt``:

    ok                        both `harness validate` and `harness run --dry-run` exit 0
    error REGEX               both exit 2; an error message matches REGEX (re.search)
    line N                    (optional) ... and that error is on line N
    file NAME                 (optional) ... in a file whose path ends with NAME
    symlink PATH              the case needs this symlink (skipped where checkouts lack them)

The files are committed; this script only regenerates them (it deletes the folder first).
"""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
MARKER = "/tmp/harness-hostile-pwned"  # python tags would create it if ever executed
PROJECT_MARK = "# Marks this folder as the project root for the hostile corpus.\n"


@dataclass
class Case:
    name: str
    files: dict[str, str | bytes]
    expect: str
    line: int | None = None
    file: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()


CASES: list[Case] = []


def case(
    name: str,
    files: dict[str, str | bytes] | str | bytes,
    expect: str,
    *,
    line: int | str | bytes | None = None,
    file: str | None = None,
    links: dict[str, str] | None = None,
    dirs: tuple[str, ...] = (),
) -> None:
    """Add a case; ``line`` may be a needle whose first line in ``file`` is meant."""
    if not isinstance(files, dict):
        files = {"exp.yaml": files}
    if isinstance(line, (str, bytes)):
        target = file or "exp.yaml"
        text = next(v for k, v in files.items() if k.endswith(target))
        data = text.encode() if isinstance(text, str) else text
        at = data.find(line.encode() if isinstance(line, str) else line)
        assert at >= 0, (name, line)
        line = data[:at].count(b"\n") + 1
    CASES.append(Case(name, files, expect, line, file, links or {}, dirs))


# -- building blocks --------------------------------------------------------------------
HEAD = "name: hostile\n"
PROMPT = 'prompts:\n  - id: p\n    user: "{{ input }}"\n'
ASSERT = '  assert:\n    - equals: "{{ expected }}"\n'
ITEMS = "tests:\n  items:\n    - {id: a, input: hello, expected: hello}\n" + ASSERT
ROW = '{"id": "a", "input": "hello", "expected": "hello"}\n'
POOL_ROWS = "".join(
    json.dumps({"id": f"e{i}", "input": f"in {i}", "expected": f"out {i}"}) + "\n" for i in range(3)
)


def exp(top: str = "", *, prompts: str = PROMPT, tests: str = ITEMS) -> str:
    return HEAD + top + prompts + tests


def tests_file(name: str, extra: str = "") -> str:
    return "tests:\n  file: " + name + "\n" + extra + ASSERT


def user(template: str) -> str:
    """An experiment whose user template is ``template`` (single-quoted YAML)."""
    quoted = "'" + template.replace("'", "''") + "'"
    return exp(prompts="prompts:\n  - id: p\n    user: " + quoted + "\n")


def checks(*entries: str, top: str = "") -> str:
    body = "".join("    - " + e + "\n" for e in entries)
    return exp(
        top,
        tests="tests:\n  items:\n    - {id: a, input: hello, expected: hello}\n  assert:\n" + body,
    )


def model(spec: str) -> str:
    return exp("models:\n  - " + spec + "\n")


def project(
    name: str,
    exp_text: str,
    outside: dict[str, str | bytes],
    expect: str,
    *,
    inside: dict[str, str | bytes] | None = None,
    links: dict[str, str] | None = None,
    line: int | str | None = None,
) -> None:
    files: dict[str, str | bytes] = {
        "project/exp.yaml": exp_text,
        "project/pyproject.toml": PROJECT_MARK,
    }
    files.update({"project/" + k: v for k, v in (inside or {}).items()})
    files.update({"outside/" + k: v for k, v in outside.items()})
    case(
        name,
        files,
        expect,
        links=links,
        line=line,
        file="project/exp.yaml" if line is not None else None,
    )


def bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


DATA_PY = "!!python/object/apply:os.system ['touch " + MARKER + "']"
OUTSIDE_ERR = "error --allow-outside-files"

# -- 1. the experiment file: syntax, encoding, bytes ------------------------------------
case("ok-baseline", exp(), "ok")
case("ok-bom", "\ufeff" + exp(), "ok")
case("ok-crlf", exp().replace("\n", "\r\n"), "ok")
case("ok-bom-crlf", "\ufeff" + exp().replace("\n", "\r\n"), "ok")
case("ok-cr-only-newlines", exp().replace("\n", "\r"), "ok")
case("ok-trailing-tab-after-value", exp().replace("name: hostile", "name: hostile\t"), "ok")
case("ok-tab-inside-quoted-value", exp('description: "a\tb"\n'), "ok")
case("ok-long-description", exp("description: " + "lorem ipsum " * 8000 + "\n"), "ok")
case(
    "ok-small-anchors",
    HEAD + PROMPT + "tests:\n  items:\n"
    "    - &c {id: a, input: hello, expected: hello}\n    - {id: b, input: hi, expected: hi}\n"
    + ASSERT,
    "ok",
)
t = exp().replace("  - id: p", "\t- id: p")
case("yaml-tab-indent", t, "error invalid YAML", line="\t")
t = exp().replace("    - {id: a", "  \t  - {id: a")
case("yaml-tab-mixed-indent", t, "error invalid YAML", line="\t")
case(
    "yaml-unclosed-flow",
    exp().replace("{id: a, input: hello, expected: hello}", "{id: a, input: hello"),
    "error invalid YAML",
)
case("yaml-unclosed-quote", exp().replace('"{{ input }}"', '"{{ input }}'), "error invalid YAML")
case("yaml-bad-dedent", exp().replace("    user:", "   user:"), "error invalid YAML")
case(
    "yaml-colon-in-plain-value",
    exp().replace('"{{ input }}"', "a: b: c"),
    "error invalid YAML",
    line="a: b: c",
)
case(
    "yaml-two-documents",
    exp() + "---\n" + exp(),
    "error invalid YAML.*another document",
    line="---",
)
case("yaml-junk-after-document-end", exp() + "...\njunk: [\n", "error invalid YAML")
case("yaml-directive-2.0", "%YAML 2.0\n---\n" + exp(), "error invalid YAML", line=1)
case("yaml-empty-file", b"", "error empty", line=1)
case("yaml-whitespace-only", "   \n\n  \n", "error empty")
case("yaml-comments-only", "# nothing\n# here\n", "error empty")
case("yaml-null-document", "~\n", "error null")
case("yaml-scalar-document", "hello\n", "error must be a mapping")
case("yaml-list-document", "- name: x\n- prompts: []\n", "error must be a mapping")
case("yaml-utf16", exp().encode("utf-16"), "error UTF-8", line=1)
case("yaml-invalid-utf8", exp().encode().replace(b"prompts", b"pro\xffmpts"), "error UTF-8", line=2)
case(
    "yaml-overlong-utf8",
    exp().encode().replace(b"hostile", b"host\xc0\xafile"),
    "error UTF-8",
    line=1,
)
case(
    "yaml-utf8-surrogate-bytes",
    exp().encode().replace(b"hello,", b"he\xed\xa0\x80llo,"),
    "error UTF-8",
    line=b"\xed",
)
case("yaml-nul-byte", exp().replace("hostile", "host\x00ile"), "error invalid YAML", line=1)
case("yaml-bell-char", exp().replace("hostile", "host\x07ile"), "error invalid YAML", line=1)
case(
    "yaml-escape-char-raw", exp().replace("hostile", "\x1b[2Jhostile"), "error invalid YAML", line=1
)
case("yaml-binary-junk", random.Random(1234).randbytes(4096), "error")
case("yaml-gzip", gzip.compress(exp().encode(), mtime=0), "error")
case("yaml-png-header", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "error")
case("yaml-elf-header", b"\x7fELF\x02\x01\x01" + bytes(64) + b"name: x\n", "error")
case("yaml-key-over-1024-chars", exp("k" * 2000 + ": 1\n"), "error invalid YAML")
case(
    "yaml-duplicate-top-key",
    exp() + "name: again\n",
    "error duplicate key 'name'",
    line="name: again",
)
t = exp().replace('    user: "{{ input }}"\n', '    user: "{{ input }}"\n    user: twice\n')
case("yaml-duplicate-nested-key", t, "error duplicate key 'user'", line="user: twice")
t = exp().replace("{id: a, input: hello, expected: hello}", "{id: a, id: b, input: x, expected: x}")
case("yaml-duplicate-key-in-item", t, "error duplicate key 'id'", line="id: b")
case("yaml-complex-key", exp("? [a, b]\n: c\n"), "error mapping keys", line="? [a, b]")
case("yaml-merge-key", "base: &b {id: p}\n" + exp().replace("  - id: p", "  - <<: *b"), "error")
case("yaml-alias-bomb-billion-laughs", exp(bomb()), "error alias")
wide = "w0: &w0 [" + ", ".join(["x"] * 50) + "]\nw1: [" + ", ".join(["*w0"] * 20_000) + "]\n"
case("yaml-alias-bomb-100kb", exp(wide), "error alias")
case("yaml-alias-recursive", exp("loop: &l [*l, *l]\n"), "error")
case("yaml-alias-undefined", exp("x: *nope\n"), "error invalid YAML.*undefined alias", line="*nope")
case("yaml-deep-flow-sequence", exp("x: " + "[" * 10_000 + "]" * 10_000 + "\n"), "error")
case("yaml-deep-flow-mapping", exp("x: " + "{a: " * 5000 + "b" + "}" * 5000 + "\n"), "error")
case("yaml-deep-block-sequence", exp("description:\n  " + "- " * 5000 + "x\n"), "error")
case("yaml-python-apply-document", DATA_PY + "\n", "error must be a mapping")
case(
    "yaml-python-apply-field",
    exp().replace("name: hostile", "name: " + DATA_PY),
    "error name",
    line=1,
)
case(
    "yaml-python-apply-verbose-tag",
    exp().replace(
        "name: hostile",
        "name: !<tag:yaml.org,2002:python/object/apply:os.system> ['touch " + MARKER + "']",
    ),
    "error name",
    line=1,
)
case(
    "yaml-python-new-popen",
    exp("description: !!python/object/new:subprocess.Popen [['touch', '" + MARKER + "']]\n"),
    "error description",
)
case(
    "yaml-python-open-for-write",
    exp("description: !!python/object/apply:builtins.open ['" + MARKER + "', 'w']\n"),
    "error description",
)
case("ok-python-name-tag-is-text", exp("description: !!python/name:os.system ''\n"), "ok")
case("ok-binary-tag-is-text", exp("description: !!binary aGVsbG8=\n"), "ok")
case("ok-unknown-local-tag-is-text", exp("description: !include /etc/passwd\n"), "ok")

# -- 2. numbers and wrong types ---------------------------------------------------------
case("num-shots-5000-digits", exp("shots: [" + "9" * 5000 + "]\n"), "error shot", line="shots")
case(
    "num-temperature-1e999",
    exp("params: {temperature: 1e999}\n"),
    "error temperature",
    line="params",
)
case("num-temperature-nan", exp("params: {temperature: .nan}\n"), "error temperature")
case("num-max-tokens-inf", exp("params: {max_tokens: .inf}\n"), "error max_tokens")
case("num-max-tokens-zero", exp("params: {max_tokens: 0}\n"), "error max_tokens")
case("num-seed-2-pow-64", exp("seeds: [18446744073709551616]\n"), "error seed", line="seeds")
case("num-seed-negative", exp("seeds: [-1]\n"), "error seed")
case("num-seed-float", exp("seeds: [1.5]\n"), "error seed")
case("num-shots-negative", exp("shots: [-1]\n"), "error shot")
case("num-shots-huge", exp("shots: [1000000000]\n"), "error shot")
case("num-shots-hex", exp("shots: [0x10]\n"), "error shot")
case("num-repeats-zero", exp("repeats: 0\n"), "error repeats")
case("num-repeats-huge", exp("repeats: 100000000\n"), "error repeats")
case("num-concurrency-zero", exp("concurrency: 0\n"), "error concurrency")
case(
    "num-shots-exceed-pool",
    {"exp.yaml": exp("examples:\n  file: pool.jsonl\nshots: [0, 5]\n"), "pool.jsonl": POOL_ROWS},
    "error pool holds only 3",
    line="shots",
)
case("num-threads-huge", model("{id: local:smollm2, threads: 100000}"), "error threads")
case("type-name-list", exp().replace("name: hostile", "name: [a, b]"), "error name", line=1)
case("type-name-missing", exp().replace("name: hostile\n", ""), "error name")
case("type-prompts-string", exp(prompts="prompts: hello\n"), "error prompts", line="prompts")
case("type-prompts-empty", exp(prompts="prompts: []\n"), "error prompts")
case("type-prompt-item-string", exp(prompts="prompts: [hello]\n"), "error prompts")
case(
    "type-prompt-id-spaces",
    exp(prompts='prompts:\n  - id: my prompt\n    user: "x"\n'),
    "error prompt id",
    line="id: my",
)
case(
    "type-prompt-id-unicode",
    exp(prompts='prompts:\n  - id: 日本\n    user: "x"\n'),
    "error prompt id",
)
case(
    "type-prompt-id-zero-width",
    exp(prompts='prompts:\n  - id: "p\u200b"\n    user: "x"\n'),
    "error prompt id",
)
case(
    "type-prompt-id-traversal",
    exp(prompts='prompts:\n  - id: ../../etc\n    user: "x"\n'),
    "error prompt id",
)
case(
    "type-prompt-file-and-user",
    exp(prompts="prompts:\n  - id: p\n    user: x\n    file: p.j2\n"),
    "error either",
)
case("type-prompt-no-user", exp(prompts="prompts:\n  - id: p\n    system: x\n"), "error user")
case("type-tests-list", exp(tests="tests: [a, b]\n"), "error tests", line="tests")
case("type-tests-string", exp(tests="tests: data.jsonl\n"), "error tests")
case("type-tests-missing", exp(tests=""), "error tests")
case("type-items-string", exp(tests="tests:\n  items: hello\n"), "error items")
case("type-items-of-strings", exp(tests="tests:\n  items: [a, b]\n"), "error items")
case("type-items-empty", exp(tests="tests:\n  items: []\n"), "error no test cases")
case(
    "type-file-and-items",
    exp(tests="tests:\n  file: d.jsonl\n  items: [{id: a}]\n"),
    "error exactly one",
)
case("type-models-number", exp("models: 5\n"), "error models")
case("type-model-without-provider", exp("models: [smollm2]\n"), "error provider:name")
case("type-params-string", exp("params: hot\n"), "error params")
case("type-temperature-word", exp("params: {temperature: hot}\n"), "error temperature")
case("type-selectors-unknown", exp("selectors: [nosuch]\n"), "error selectors")
case("type-selector-fixed-no-ids", exp("selectors: [fixed]\n"), "error fixed")
case("type-style-unknown", exp("style: fancy\n"), "error style")
case("type-shots-scalar", exp("shots: 3\n"), "error shots")
case("type-shots-words", exp("shots: [a]\n"), "error shots")
case("type-examples-string", exp("examples: pool.jsonl\n"), "error examples")
case(
    "type-match-on-list",
    {"exp.yaml": exp("examples:\n  file: pool.jsonl\n  match_on: [a]\n"), "pool.jsonl": POOL_ROWS},
    "error match_on",
)
case(
    "type-assert-string",
    exp(tests="tests:\n  items: [{id: a}]\n  assert: equals\n"),
    "error assert",
)
case("type-assert-item-string", checks("equals"), "error assert", line="- equals")
case(
    "type-normalize-string-tests-level",
    exp(tests="tests:\n  items: [{id: a}]\n  normalize: strip\n"),
    "error normalize",
)
case(
    "type-case-assert-not-list",
    exp(tests="tests:\n  items:\n    - {id: a, assert: {equals: x}}\n"),
    "error must be a list",
)
case("type-finetune-epochs-zero", exp("finetune:\n  - {name: t, epochs: 0}\n"), "error epochs")
case(
    "type-finetune-name-traversal",
    exp("finetune:\n  - {name: ../../evil}\n"),
    "error fine-tune name",
)
case("key-unknown-top", exp("promtps: []\n"), "error promtps.*prompts", line="promtps")
case(
    "key-unknown-prompt",
    exp(prompts='prompts:\n  - id: p\n    usr: "x"\n'),
    "error usr",
    line="usr",
)
case("key-unknown-model", model("{id: local:smollm2, api_keyenv: X}"), "error api_keyenv")
case("key-unknown-with-terminal-escape", exp('"\\e]0;pwned\\a\\e[2J": 1\n'), "error")
case(
    "ok-unicode-everywhere",
    exp(
        tests="tests:\n  items:\n"
        '    - {id: "ケース\u202e1", input: "😀 مرحبا",'
        ' expected: "😀 مرحبا"}\n' + ASSERT
    ),
    "ok",
)
case(
    "yaml-lone-surrogate-escape",
    exp(tests='tests:\n  items:\n    - {id: a, input: "\\ud800", expected: "x"}\n' + ASSERT),
    "error invalid YAML",
    line="ud800",
)
case(
    "ids-duplicate-prompts",
    exp(prompts='prompts:\n  - {id: p, user: "x"}\n  - {id: p, user: "y"}\n'),
    "error duplicate prompt id",
    line='{id: p, user: "y"}',
)
case(
    "ids-duplicate-cases-inline",
    exp(tests="tests:\n  items:\n    - {id: a, input: x}\n    - {id: a, input: y}\n"),
    "error duplicate test case id",
    line="input: y",
)

# -- 3. checks --------------------------------------------------------------------------
case(
    "check-not-regex-unclosed",
    checks('not_regex: "(unclosed"'),
    "error regular expression",
    line="not_regex",
)
case(
    "check-regex-reversed-range", checks('regex: "[z-a]"'), "error regular expression", line="regex"
)
case(
    "check-not-number-word", checks("not_number: {value: many}"), "error number", line="not_number"
)
case(
    "check-number-negative-tolerance",
    checks("number: {value: 1, tolerance: -1}"),
    "error tolerance",
)
case("check-similar-threshold-2", checks("similar: {value: x, threshold: 2}"), "error threshold")
case(
    "check-normalize-extract-tests-level",
    exp(tests="tests:\n  items: [{id: a}]\n  normalize: [{extract: '(unclosed'}]\n"),
    "error regular expression",
    line="normalize",
)
case(
    "check-normalize-extract-per-check",
    checks("{equals: x, normalize: [{extract: '(unclosed'}]}"),
    "error regular expression",
    line="normalize",
)
case(
    "check-normalize-string-per-check",
    checks("{equals: x, normalize: lowercase}"),
    "error normalize must be a list",
    line="normalize",
)
case("check-normalize-unknown-step", checks("{equals: x, normalize: [upper]}"), "error normaliser")
case("check-weight-heavy", checks("{equals: x, weight: heavy}"), "error weight", line="weight")
case("check-weight-negative", checks("{equals: x, weight: -1}"), "error weight")
case(
    "check-threshold-2",
    exp(tests="tests:\n  items: [{id: a}]\n  threshold: 2\n"),
    "error threshold",
)
case("check-unknown-name", checks("equal: x"), "error did you mean 'equals'", line="equal:")
case("check-two-names", checks("{equals: x, contains: y}"), "error exactly one check")
case(  # a judge may be any model of a known provider (it need not be a variant's model)
    "check-judge-unknown-model",
    checks("judge: {rubric: x, model: nosuch:not-in-experiment}"),
    "error unknown provider",
    line="judge",
)
case("ok-check-judge-default-local", checks("judge: {rubric: x, model: local:smollm2}"), "ok")
case("check-judge-model-format", checks("judge: {rubric: x, model: gpt4}"), "error provider:name")
case("check-judge-no-rubric", checks("judge: {model: local:smollm2}"), "error rubric")
case("check-python-refused", checks("python: os:system"), "error --allow-python", line="python")
case("check-json-schema-invalid", checks("json_schema: {type: 12}"), "error JSON Schema")
case("check-json-field-no-path", checks("json_field: {equals: x}"), "error path")
case(
    "check-assert-template-undefined",
    checks('equals: "{{ nope }}"'),
    "error undefined",
    line="nope",
)
case(
    "check-assert-template-bomb",
    checks("equals: \"{{ 'a'|center(1000000000) }}\""),
    "error",
    line="center",
)
case(
    "check-case-assert-bad-regex",
    {
        "exp.yaml": exp(tests=tests_file("data.jsonl")),
        "data.jsonl": ROW + '{"id": "b", "input": "x", "expected":'
        ' "x", "assert": [{"regex": "(("}]}\n',
    },
    "error regular expression",
    line=2,
    file="data.jsonl",
)

# -- 4. thresholds, baseline, prices, environment ---------------------------------------
case(
    "limit-min-pass-rate-5", exp("min_pass_rate: 5\n"), "error min_pass_rate", line="min_pass_rate"
)
case(
    "limit-min-pass-rate-glob-1.5",
    exp('min_pass_rate: {"*": 1.5}\n'),
    "error min_pass_rate",
    line="min_pass_rate",
)
case("limit-min-pass-rate-negative", exp("min_pass_rate: -0.1\n"), "error min_pass_rate")
case("ok-min-pass-rate", exp('min_pass_rate: {"*": 0.5}\n'), "ok")
case("limit-baseline-unknown", exp("baseline: nosuch/variant\n"), "error baseline", line="baseline")
case(
    "price-negative",
    model("{id: openai:m, price: {input: -1, output: 1}}"),
    "error price",
    line="price",
)
case("price-word", model("{id: openai:m, price: {input: cheap, output: 1}}"), "error price")
case("price-infinite", model("{id: openai:m, price: {input: .inf, output: 1}}"), "error price")
case("price-unknown-key", model("{id: openai:m, price: {inptu: 1, output: 1}}"), "error inptu")
case(
    "env-aws-secret",
    model("{id: openai:m, api_key_env: AWS_SECRET_ACCESS_KEY}"),
    "error --allow-env",
    line="api_key_env",
)
case("ok-env-openai-key", model("{id: openai:m, api_key_env: OPENAI_API_KEY}"), "ok")
case("model-unknown-provider", exp("models: [nosuch:model]\n"), "error nosuch")

# -- 5. templates -----------------------------------------------------------------------
case("tpl-syntax-error", user("{{ input "), "error template syntax", line="user:")
case("tpl-unknown-filter", user("{{ input|nosuch }}"), "error nosuch", line="user:")
case("tpl-undefined-variable", user("{{ nope }}"), "error undefined", line="user:")
case(
    "tpl-sandbox-mro",
    user("{{ ''.__class__.__mro__[1].__subclasses__() }}"),
    "error unsafe",
    line="user:",
)
case(
    "tpl-sandbox-globals",
    user("{{ cycler.__init__.__globals__.os.popen('id').read() }}"),
    "error",
    line="user:",
)
case(
    "tpl-sandbox-format-attr",
    user("{{ '{0.__class__.__base__}'.format(1) }}"),
    "error",
    line="user:",
)
case("tpl-include-etc-passwd", user("{% include '/etc/passwd' %}"), "error", line="user:")
case("tpl-extends-traversal", user("{% extends '../../../../etc/passwd' %}"), "error", line="user:")
case("tpl-center-1e9", user("{{ 'a'|center(1000000000) }}"), "error", line="user:")
case("tpl-percent-width-1e9", user("{{ '%1000000000d' % 1 }}"), "error", line="user:")
case("tpl-ljust-pow", user("{{ 'x'.ljust(10**9) }}"), "error", line="user:")
case("tpl-ljust-literal", user("{{ 'x'.ljust(1000000000) }}"), "error", line="user:")
case(
    "tpl-nested-range-loops",
    user("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"),
    "error",
    line="user:",
)
case("tpl-lipsum-million", user("{{ lipsum(1000000) }}"), "ok")  # clamped to 100 paragraphs
case("tpl-repeat-600000", user("{{ 'ab' * 600000 }}"), "error", line="user:")
case("tpl-range-list-1e9", user("{{ range(10**9)|list }}"), "error", line="user:")
case("tpl-wordwrap-1e9", user("{{ 'x'|wordwrap(1000000000) }}"), "error", line="user:")
case("tpl-indent-1e9", user("{{ 'x'|indent(1000000000, first=true) }}"), "error", line="user:")
case("tpl-format-width-1e9", user("{{ '{:>1000000000}'.format(1) }}"), "error", line="user:")
case(
    "tpl-format-nested-width",
    user("{{ '{0:>{1}}'.format('a', '1000000000') }}"),
    "error",
    line="user:",
)
case("tpl-percent-star-width", user("{{ '%*d' % (1000000000, 1) }}"), "error", line="user:")
case("tpl-format-filter-width", user("{{ '%1000000000s'|format('a') }}"), "error", line="user:")
case("tpl-pow-tower", user("{{ ((2**999)**999)**999 }}"), "error", line="user:")
case(
    "tpl-quadratic-concat",
    user(
        "{% set ns = namespace(x='') %}{% for i in range(999999) %}"
        "{% set ns.x = ns.x ~ 'ab' %}{% endfor %}{{ ns.x|length }}"
    ),
    "error",
    line="user:",
)
case(
    "tpl-recursive-macro",
    user("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
    "error",
    line="user:",
)
case(
    "tpl-deep-parentheses",
    user("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"),
    "error",
    line="user:",
)
case(
    "tpl-nested-for-30",
    user("{% for i in [1] %}" * 30 + "x" + "{% endfor %}" * 30),
    "error",
    line="user:",
)
case(
    "tpl-output-3mb",
    user("{% for i in range(300000) %}abcdefghij{% endfor %}"),
    "error",
    line="user:",
)
case("tpl-join-3mb", user("{{ (['abc'] * 999999)|join }}"), "error", line="user:")
case(
    "tpl-replace-blowup", user("{{ ('a' * 2000)|replace('a', 'b' * 2000) }}"), "error", line="user:"
)
case(
    "tpl-bomb-in-system",
    exp(prompts="prompts:\n  - id: p\n    system: \"{{ 'a'|center(1000000000) }}\"\n    user: x\n"),
    "error",
    line="system:",
)
case(
    "tpl-bomb-in-answer",
    {
        "exp.yaml": exp(
            "examples:\n  file: pool.jsonl\n  answer: \"{{ 'a'"
            '|center(1000000000) }}"\nshots: [1]\n'
        ),
        "pool.jsonl": POOL_ROWS,
    },
    "error",
    line="answer:",
)
block_file = (
    "{% block system %}You answer.{% endblock %}\n"
    "{% block user %}\n{{ input }}\n{{ 'a'|center(1000000000) }}\n{% endblock %}\n"
)
case(
    "tpl-bomb-in-prompt-file",
    {"exp.yaml": exp(prompts="prompts:\n  - id: p\n    file: p.j2\n"), "p.j2": block_file},
    "error",
    line="center",
    file="p.j2",
)
case(
    "tpl-prompt-file-unknown-block",
    {
        "exp.yaml": exp(prompts="prompts:\n  - id: p\n    file: p.j2\n"),
        "p.j2": "{% block user %}x{% endblock %}{% block evil %}y{% endblock %}",
    },
    "error unknown template block",
    file="p.j2",
)

# -- 6. prompt template files -----------------------------------------------------------
PFILE = exp(prompts="prompts:\n  - id: p\n    file: p.j2\n")
GOOD_J2 = "{% block system %}Answer.{% endblock %}\n{% block user %}{{ input }}{% endblock %}\n"
case("prompt-file-missing", PFILE, "error not found", line="file: p.j2")
case(
    "prompt-file-is-directory",
    {"exp.yaml": PFILE, "p.j2/README": "a folder"},
    "error directory",
    line="file: p.j2",
)
case(
    "prompt-file-binary",
    {"exp.yaml": PFILE, "p.j2": b"\x00\xff\xfe" + bytes(range(256))},
    "error UTF-8",
)
case("prompt-file-empty", {"exp.yaml": PFILE, "p.j2": ""}, "error block user")
case(
    "ok-prompt-file-bom-crlf",
    {"exp.yaml": PFILE, "p.j2": "\ufeff" + GOOD_J2.replace("\n", "\r\n")},
    "ok",
)
case(
    "prompt-file-nul-in-path",
    exp(prompts='prompts:\n  - id: p\n    file: "p\\0.j2"\n'),
    "error",
    line="file:",
)
case(
    "prompt-file-etc-passwd",
    exp(prompts="prompts:\n  - id: p\n    file: /etc/passwd\n"),
    OUTSIDE_ERR,
    line="file:",
)
case(
    "ok-prompt-file-dotdot-inside",
    {
        "exp.yaml": exp(prompts="prompts:\n  - id: p\n    file: sub/../p.j2\n"),
        "p.j2": GOOD_J2,
        "sub/README": "x",
    },
    "ok",
)
project(
    "prompt-file-traversal",
    exp(prompts="prompts:\n  - id: p\n    file: ../outside/p.j2\n"),
    {"p.j2": GOOD_J2},
    OUTSIDE_ERR,
    line="file:",
)
project(
    "prompt-file-symlink-outside",
    PFILE,
    {"p.j2": GOOD_J2},
    OUTSIDE_ERR,
    links={"project/p.j2": "../outside/p.j2"},
)

# -- 7. data files ----------------------------------------------------------------------
JSONL = exp(tests=tests_file("data.jsonl"))
CSV = exp(tests=tests_file("data.csv"))
JSON = exp(tests=tests_file("data.json"))
YAMLD = exp(tests=tests_file("data.yaml"))
CSV_ROWS = "id,input,expected\na,hello,hello\nb,hi,hi\n"


def data(
    name: str,
    content: str | bytes,
    expect: str,
    *,
    line: int | str | None = None,
    ext: str = "jsonl",
    exp_text: str | None = None,
) -> None:
    text = exp_text or {"jsonl": JSONL, "csv": CSV, "json": JSON, "yaml": YAMLD}[ext]
    case(
        name,
        {"exp.yaml": text, "data." + ext: content},
        expect,
        line=line,
        file="data." + ext if line is not None else None,
    )


data("ok-data-jsonl-bom", "\ufeff" + ROW, "ok")
data("ok-data-csv-bom", "\ufeff" + CSV_ROWS, "ok", ext="csv")
data("ok-data-csv-crlf", CSV_ROWS.replace("\n", "\r\n"), "ok", ext="csv")
data("ok-data-csv-bom-crlf", "\ufeff" + CSV_ROWS.replace("\n", "\r\n"), "ok", ext="csv")
data("ok-data-jsonl-crlf", (ROW + ROW.replace('"a"', '"b"')).replace("\n", "\r\n"), "ok")
data("ok-data-json-bom-crlf", "\ufeff[\r\n" + ROW.strip() + "\r\n]\r\n", "ok", ext="json")
data(
    "ok-data-yaml-crlf",
    "- {id: a, input: hello, expected: hello}\r\n- {id: b, input: x, expected: x}\r\n",
    "ok",
    ext="yaml",
)
data(
    "ok-data-json-5000-digit-float",
    '[{"id": "a", "input": ' + "1" * 5000 + '.5, "expected": "x"}]\n',
    "ok",
    ext="json",
)
data(
    "ok-data-json-huge-exponent",
    '[{"id": "a", "input": 1e999999999, "expected": "x"}]\n',
    "ok",
    ext="json",
)
data("ok-data-jsonl-nan-infinity", '{"id": "a", "input": NaN, "expected": Infinity}\n', "ok")
data(
    "ok-data-jsonl-duplicate-keys",
    '{"id": "a", "input": "x", "input": "y", "expected": "y"}\n',
    "ok",
)
data(
    "ok-data-unicode-ids",
    '{"id": "ケース\u202e😀", "input": "x", "expected": "x"}\n'
    '{"id": "\u0627", "input": "y", "expected": "y"}\n',
    "ok",
)
data(
    "ok-data-2000-cases",
    "".join(
        json.dumps({"id": f"c{i}", "input": f"q {i}", "expected": f"q {i}"}) + "\n"
        for i in range(2000)
    ),
    "ok",
)
data("ok-data-blank-lines-between", "\n\n" + ROW + "\n   \n", "ok")
data(
    "data-jsonl-5000-digit-int",
    ROW + '{"id": "b", "input": ' + "7" * 5000 + ', "expected": "x"}\n',
    "error invalid JSON",
    line=2,
)
data(
    "data-jsonl-invalid-line",
    ROW + ROW.replace('"a"', '"b"') + "{nope\n",
    "error invalid JSON",
    line=3,
)
data(
    "data-jsonl-nul-byte",
    ROW + '{"id": "b", "input": "x\x00y", "expected": "x"}\n',
    "error invalid JSON",
    line=2,
)
data(
    "data-jsonl-invalid-utf8",
    ROW.encode() + b'{"id": "b", "input": "\xff\xfe"}\n',
    "error UTF-8",
    line=2,
)
data("data-jsonl-bom-mid-file", ROW + "\ufeff" + ROW.replace('"a"', '"b"'), "error", line=2)
data("data-jsonl-not-object", ROW + "[1, 2]\n", "error must be a mapping", line=2)
data("data-jsonl-string-record", '"just a string"\n', "error must be a mapping", line=1)
data("data-jsonl-deep-nesting", "[" * 20_000 + "]" * 20_000 + "\n", "error", line=1)
data("data-jsonl-deep-object", '{"a": ' * 10_000 + "1" + "}" * 10_000 + "\n", "error", line=1)
data(
    "data-json-deep-nesting",
    '[{"id": "a", "x": ' + "[" * 20_000 + "]" * 20_000 + "}]",
    "error",
    line=1,
    ext="json",
)
data("data-json-object-not-list", '{"id": "a"}', "error list of records", ext="json")
data("data-json-list-of-numbers", "[1, 2, 3]", "error must be a mapping", ext="json")
data("data-json-truncated", '[{"id": "a",\n  "input": ', "error invalid JSON", line=2, ext="json")
data("data-yaml-deep-nesting", "- " * 5000 + "x\n", "error", ext="yaml")
data("data-yaml-alias-bomb", bomb() + "items: []\n", "error alias", ext="yaml")
data("data-yaml-python-tag", "- " + DATA_PY + "\n", "error", line=1, ext="yaml")
data(
    "data-yaml-python-tag-in-field",
    "- {id: a, input: " + DATA_PY + ", expected: x}\n",
    "ok",
    ext="yaml",
    exp_text=exp(tests="tests:\n  file: data.yaml\n"),
)
data("data-yaml-tab-indent", "- id: a\n\tinput: x\n", "error invalid YAML", line=2, ext="yaml")
data("data-yaml-mapping-not-list", "id: a\ninput: x\n", "error list of records", ext="yaml")
data(
    "data-yaml-duplicate-keys",
    "- {id: a, input: x, input: y, expected: y}\n",
    "error duplicate key 'input'",
    line=1,
    ext="yaml",
)
data("data-csv-duplicate-header", "id,input,input\na,b,c\n", "error header", line=1, ext="csv")
data("data-csv-empty-header", "id,,expected\na,b,c\n", "error header", line=1, ext="csv")
data("data-csv-ragged-row", CSV_ROWS + "c,only-two\n", "error CSV row", line=4, ext="csv")
data("data-csv-header-only", "id,input,expected\n", "error no records", ext="csv")
data("ok-data-csv-nul-byte", "id,input,expected\na,x\x00y,z\n", "ok", ext="csv")
data(
    "data-csv-huge-field",
    "id,input,expected\na," + "x" * 140_000 + ",y\n",
    "error",
    line=2,
    ext="csv",
)
data("data-csv-unterminated-quote", 'id,input,expected\na,"never closed,x\n', "error", ext="csv")
data("data-csv-binary", random.Random(99).randbytes(2048), "error", ext="csv")
data("data-empty-file", "", "error no records")
data("data-blank-lines-only", "\n\n   \n\r\n", "error no records")
case(
    "data-file-is-directory",
    {"exp.yaml": JSONL, "data.jsonl/README": "a folder"},
    "error directory",
)
case("data-file-missing", JSONL, "error not found", line="file:")
case(
    "data-unsupported-suffix",
    {"exp.yaml": exp(tests=tests_file("data.exe")), "data.exe": b"MZ\x90\x00"},
    "error unsupported",
    line="file:",
)
case(
    "data-no-suffix",
    {"exp.yaml": exp(tests=tests_file("data")), "data": ROW},
    "error unsupported",
    line="file:",
)
case("data-nul-in-path", exp(tests=tests_file('"da\\0ta.jsonl"')), "error", line="file:")
case("data-path-5000-chars", exp(tests=tests_file("d" * 5000 + ".jsonl")), "error", line="file:")
case(
    "data-tilde-path",
    exp(tests=tests_file("~/.aws/credentials.csv")),
    "error not found",
    line="file:",
)
case("data-empty-path", exp(tests=tests_file('""')), "error", line="file:")
case(
    "data-duplicate-case-ids",
    {"exp.yaml": JSONL, "data.jsonl": ROW + ROW + ROW},
    "error duplicate test case id",
    line=2,
    file="data.jsonl",
)
case(
    "data-pool-duplicate-ids",
    {
        "exp.yaml": exp("examples:\n  file: pool.jsonl\n"),
        "pool.jsonl": POOL_ROWS + POOL_ROWS.splitlines(True)[0],
    },
    "error duplicate pool item id",
    line=4,
    file="pool.jsonl",
)
case(
    "data-case-missing-variable",
    {"exp.yaml": JSONL, "data.jsonl": '{"id": "a"}\n'},
    "error undefined",
)
case(
    "ok-data-dotdot-inside",
    {"exp.yaml": exp(tests=tests_file("sub/../data.jsonl")), "data.jsonl": ROW, "sub/README": "x"},
    "ok",
)
case("data-absolute-etc-passwd", exp(tests=tests_file("/etc/passwd")), OUTSIDE_ERR, line="file:")
case(
    "data-deep-relative-traversal",
    exp(tests=tests_file("../../../../../../../../../etc/passwd")),
    OUTSIDE_ERR,
    line="file:",
)
project(
    "data-traversal-csv",
    exp(tests=tests_file("../outside/secrets.csv")),
    {"secrets.csv": "id,input,expected\na,secret,secret\n"},
    OUTSIDE_ERR,
    line="file:",
)
project(
    "data-traversal-pool",
    exp("examples:\n  file: ../outside/pool.jsonl\n"),
    {"pool.jsonl": POOL_ROWS},
    OUTSIDE_ERR,
    line="file:",
)
project(
    "data-symlink-outside",
    JSONL,
    {"secrets.jsonl": ROW},
    OUTSIDE_ERR,
    links={"project/data.jsonl": "../outside/secrets.jsonl"},
)
project(
    "data-symlinked-folder-outside",
    exp(tests=tests_file("sub/secrets.jsonl")),
    {"secrets.jsonl": ROW},
    OUTSIDE_ERR,
    links={"project/sub": "../outside"},
)
case("data-symlink-loop", JSONL, "error", links={"data.jsonl": "data.jsonl"})
case("data-symlink-dangling", JSONL, "error not found", links={"data.jsonl": "nowhere.jsonl"})
case(
    "ok-data-symlink-inside",
    {"exp.yaml": JSONL, "real.jsonl": ROW},
    "ok",
    links={"data.jsonl": "real.jsonl"},
)

# -- model files: a `local:` path, an adapter folder, a fine-tune's base ----------------
case("model-folder-outside", exp("models: [local:/etc]\n"), OUTSIDE_ERR, line="models:")
case("model-gguf-outside", exp("models: [local:/etc/passwd.gguf]\n"), OUTSIDE_ERR, line="models:")
case(
    "model-adapter-traversal",
    exp('models: ["local:smollm2+../../../../../../../../etc"]\n'),
    OUTSIDE_ERR,
    line="models:",
)
case(
    "finetune-base-outside",
    {
        "exp.yaml": exp(
            "examples:\n  file: pool.jsonl\nfinetune:\n  - {name: t, base: 'local:/etc'}\n"
        ),
        "pool.jsonl": POOL_ROWS,
    },
    OUTSIDE_ERR,
    line="base:",
)


def main() -> None:
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    assert all(re.fullmatch(r"[a-z0-9.-]+", n) for n in names), names
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    CORPUS.mkdir(parents=True)
    # Byte-exact: no end-of-line conversion (the CRLF, BOM and binary cases).
    (CORPUS / ".gitattributes").write_text("* -text\n", encoding="utf-8")
    for number, c in enumerate(CASES, start=1):
        folder = CORPUS / f"{number:03d}-{c.name}"
        for rel, content in c.files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(
                content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
            )
        for rel, target in c.links.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(target)
        lines = [c.expect]
        if c.line is not None:
            lines.append(f"line {c.line}")
        if c.file is not None:
            lines.append(f"file {c.file}")
        lines.extend(f"symlink {rel}" for rel in c.links)
        (folder / "expect.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases to {CORPUS}")


if __name__ == "__main__":
    main()
