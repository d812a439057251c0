"""The dev/held-out split: seeded, stratified, and declared in the file."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from harness.errors import Location
from harness.experiment import Case, load_experiment, split_cases, validate_experiment
from tests.conftest import WriteFiles


def _cases(labels: list[str]) -> list[Case]:
    return [Case(f"c{i}", {"label": label}, Location("t", i + 1)) for i, label in enumerate(labels)]


@given(
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=80),
    st.floats(0.1, 0.9),
    st.integers(0, 5),
)
def test_a_split_covers_every_case_once_and_keeps_each_label_share(
    labels: list[str], dev: float, seed: int
) -> None:
    cases = _cases(labels)
    split = split_cases(cases, dev=dev, seed=seed, stratify_on="label")
    assert split.dev | split.heldout == {c.id for c in cases}
    assert not split.dev & split.heldout
    assert len(split.dev) == round(dev * len(cases))
    assert split == split_cases(list(reversed(cases)), dev=dev, seed=seed, stratify_on="label")
    per_label = Counter(labels)
    in_dev = Counter(c.vars["label"] for c in cases if c.id in split.dev)
    for label, count in per_label.items():
        assert abs(in_dev[label] - dev * count) < 1 + 1e-9  # each stratum within one case


def test_the_seed_changes_the_split() -> None:
    cases = _cases(["a"] * 40)
    splits = {split_cases(cases, dev=0.5, seed=seed).dev for seed in range(5)}
    assert len(splits) == 5


def test_dev_file_holds_the_dev_cases_and_split_excludes_it(write: WriteFiles) -> None:
    rows = "".join(f'{{"id": "h{i}", "q": "x{i}"}}\n' for i in range(12))
    path = write(
        {
            "exp.yaml": """
                name: s
                prompts: [{id: p, user: "{{ q }}"}]
                tests:
                  file: held.jsonl
                  dev_file: dev.jsonl
            """,
            "held.jsonl": rows,
            "dev.jsonl": '{"id": "d1", "q": "y"}\n{"id": "d2", "q": "z"}\n',
        }
    )
    exp = load_experiment(path)
    assert exp.split is not None
    assert exp.split.dev == {"d1", "d2"}
    assert len(exp.split.heldout) == 12
    assert [c.id for c in exp.cases_in("dev")] == ["d1", "d2"]
    text = path.read_text().replace("dev_file: dev.jsonl", "dev_file: dev.jsonl\n  split: {}")
    path.write_text(text)
    problems = [str(p) for p in validate_experiment(path).errors]
    assert any("give `split` or `dev_file`, not both" in p for p in problems), problems


def test_a_dev_file_outside_the_project_is_refused(write: WriteFiles) -> None:
    path = write(
        {
            "proj/exp.yaml": """
                name: s
                prompts: [{id: p, user: "{{ q }}"}]
                tests:
                  items: [{q: a}]
                  dev_file: ../../etc/passwd
            """,
        }
    )
    problems = [str(p) for p in validate_experiment(path).errors]
    assert any("exp.yaml:5:" in p and "outside this experiment's project" in p for p in problems)
