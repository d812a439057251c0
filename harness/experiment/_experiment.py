"""The validated experiment (:class:`Experiment`): what loading a file yields and every
later stage (render, run, decide, fine-tune) reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.experiment._yaml import YamlDocument
from harness.experiment.data import Case, PoolItem
from harness.experiment.messages import Prompt
from harness.experiment.plan import Variant
from harness.experiment.schema import ExperimentSpec
from harness.experiment.split import DEV, CaseSplit
from harness.templating import CompiledTemplate

__all__ = ["Experiment"]


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: its spec, compiled prompts, pool, cases and variant plan."""

    path: Path
    display: str
    spec: ExperimentSpec
    prompts: tuple[Prompt, ...]
    pool: tuple[PoolItem, ...]
    cases: tuple[Case, ...]
    answer: CompiledTemplate | None
    variants: tuple[Variant, ...]
    document: YamlDocument = field(repr=False, compare=False)
    split: CaseSplit | None = None  # development and held-out cases, when the file splits
    _answers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def prompt(self, prompt_id: str) -> Prompt:
        for prompt in self.prompts:
            if prompt.id == prompt_id:
                return prompt
        raise KeyError(prompt_id)

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)

    def cases_in(self, split: str | None) -> tuple[Case, ...]:
        """The ``dev`` or ``heldout`` cases (every case for ``None`` or an unsplit file)."""
        if self.split is None or split is None:
            return self.cases
        wanted = self.split.dev if split == DEV else self.split.heldout
        return tuple(c for c in self.cases if c.id in wanted)

    def split_of(self, case_id: str) -> str | None:
        """``dev`` or ``heldout`` for a split experiment's case, else ``None``."""
        return None if self.split is None else self.split.of(case_id)

    def answer_for(self, item: PoolItem) -> str:
        """A pool item's assistant turn (rendered once, then reused)."""
        cached = self._answers.get(item.id)
        if cached is None:
            assert self.answer is not None
            cached = self._answers[item.id] = self.answer.render(item.vars)
        return cached
