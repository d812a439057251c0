"""The package's import graph: no circle, and imports only go down the layers.

Every import counts, including those inside functions and ``TYPE_CHECKING`` blocks: a
lazy import still couples two modules. The layers, top to bottom, are the order in which
a new capability is added: the command line and the pytest plugin drive the public API,
the private run machinery drives the public packages, and those sit on small shared
modules. A package may import only from the layers below it.
"""

from __future__ import annotations

import grimp
import pytest

# Top to bottom; names in one Layer are siblings that must not import each other.
LAYERS: list[grimp.Layer] = [
    grimp.Layer("__main__"),
    grimp.Layer("_cli", "pytest_plugin"),
    grimp.Layer("testing"),
    grimp.Layer("optimize"),
    grimp.Layer("importers"),
    grimp.Layer("_run"),
    grimp.Layer("report"),
    grimp.Layer("finetune"),
    grimp.Layer("runs"),
    grimp.Layer("render"),
    grimp.Layer("experiment"),
    grimp.Layer("checks", "shots"),
    grimp.Layer("models"),
    grimp.Layer("run_records", "run_requests", "adapter_records", "_lock"),
    grimp.Layer("templating", "stats", "results", "home", "_hf", "_progress"),
    grimp.Layer("_sandbox"),
    grimp.Layer("errors"),
    grimp.Layer("_redact"),
]
PRIVATE_MACHINERY = ("harness._run", "harness._cli")
PUBLIC_PACKAGES = ("experiment", "models", "checks", "shots", "report", "finetune", "importers")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("harness", include_external_packages=False)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iteratively)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for j in range(i, len(edges[node])):
                nxt = edges[node][j]
                if nxt not in index:
                    work.extend([(node, j + 1), (nxt, 0)])
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return found


def test_no_import_circle(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    g = grimp.ImportGraph()
    for a, b in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        g.add_import(importer=a, imported=b)
    assert _cycles(g) == [["p.a", "p.b", "p.c"]]


def test_imports_only_go_down_the_layers(graph: grimp.ImportGraph) -> None:
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={"harness"})
    lines = sorted(
        f"{dep.importer} -> {dep.imported}: "
        + "; ".join(
            " -> ".join([",".join(sorted(r.heads)), *r.middle, ",".join(sorted(r.tails))])
            for r in dep.routes
        )
        for dep in illegal
    )
    assert lines == []


def test_every_module_has_a_layer(graph: grimp.ImportGraph) -> None:
    placed = {f"harness.{tail}" for layer in LAYERS for tail in layer.module_tails}
    top_level = {m for m in graph.modules if m.count(".") == 1}
    assert top_level - placed == set()


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_public_packages_never_import_the_machinery(graph: grimp.ImportGraph, package: str) -> None:
    """Nor the package root, whose lazy ``run`` would pull the machinery back in."""
    modules = {f"harness.{package}", *graph.find_descendants(f"harness.{package}")}
    bad = sorted(
        f"{m} -> {imported}"
        for m in modules
        for imported in graph.find_modules_directly_imported_by(m)
        if imported == "harness" or imported.startswith(PRIVATE_MACHINERY)
    )
    assert bad == []
