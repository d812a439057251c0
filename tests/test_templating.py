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
