"""Templates are sandboxed: Python internals and resource bombs are refused, with locations."""

from __future__ import annotations

import pytest

from harness.templating import TemplateError, compile_template

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ self._TemplateReference__context }}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ 'x' * 100000000 }}",
    "{{ 9 ** 99999999 }}",
    "{% for i in range(10**9) %}{% endfor %}",
    "{% set x = [] %}{{ x.append(1) }}",
    # resource bombs: each refused before it allocates or runs long
    "{{ 'a'|center(1000000000) }}",
    "{{ '%1000000000d' % 1 }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ 'x'|indent(1000000000) }}",
    "{{ ('x' * 1000)|replace('', 'y' * 1000) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ range(10**9)|list }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s %}{{ ns.s }}{{ ns.s }}"
    "{% endset %}{% endfor %}",
    "{% for c in 'x' * 1000000 %}{% for d in 'x' * 1000000 %}{% endfor %}{% endfor %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_refuses(source: str) -> None:
    template = compile_template(source, file="e.yaml", line=7, col=11)[None]
    with pytest.raises(TemplateError) as info:
        template.render({})
    assert info.value.location.file == "e.yaml"
    assert info.value.location.line == 7


def test_undefined_variable_names_what_is_available() -> None:
    template = compile_template("a\n{{ nope }}", file="p.j2")[None]
    with pytest.raises(TemplateError) as info:
        template.render({"input": 1})
    assert info.value.location.line == 2
    assert "'nope' is undefined" in info.value.message and "input" in info.value.message


def test_lipsum_is_capped_and_ordinary_templates_still_work() -> None:
    def render(source: str) -> str:
        return compile_template(source, file="e.yaml")[None].render({"n": 123456789012})

    assert render("{{ lipsum(1000000) }}").count("<p>") <= 100
    assert render("{{ n|string }} {{ '%d'|format(n) }} {{ 'abc'|center(9)|length }}") == (
        "123456789012 123456789012 9"
    )
