"""Training data from the pool, assistant-only labels, and a real (tiny) LoRA round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from markupsafe import escape

from harness.experiment import load_experiment
from harness.finetune.prepare import prepare_training_data
from tests.conftest import EXPERIMENTS, WriteFiles


def test_prepare_uses_the_prompt_format_and_removes_leaks() -> None:
    exp = load_experiment(EXPERIMENTS / "date_iso.yaml")
    data = prepare_training_data(exp, "terse", validation_fraction=0.1)
    assert sorted(data.removed) == ["d022", "d046", "d053"]  # twins of test cases
    assert len(data.train) + len(data.validation) == len(exp.pool) - 3
    first = data.train[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[0]["content"].startswith("Convert the date to ISO 8601")
    tests = {c.vars["input"].casefold() for c in exp.cases}
    assert not any(
        ex["messages"][1]["content"].casefold() in tests for ex in data.train + data.validation
    )


@pytest.mark.slow
def test_labels_cover_only_the_answer_and_its_end_token() -> None:
    from harness.finetune.lora import IGNORE, chat_features
    from harness.models._local_engine import load_engine

    tokenizer = load_engine("smollm2")._tokenizer
    example = {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "May 5, 2001"},
            {"role": "assistant", "content": "2001-05-05"},
        ]
    }
    ids, labels = chat_features(tokenizer, example, 512)
    learned = tokenizer.decode([i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE])
    assert learned.startswith("2001-05-05<|im_end|>")
    assert "May 5" not in learned


@pytest.mark.slow
def test_finetune_in_an_experiment_then_decide(write: WriteFiles, tmp_path: Path) -> None:
    from harness._run.pipeline import RunOptions, run_experiment
    from harness.report.decide import decide

    pool = [
        {"id": f"p{i}", "input": f"March {i + 1}, 2001", "expected": f"2001-03-{i + 1:02d}"}
        for i in range(12)
    ]
    path = write(
        {
            "e.yaml": """
            name: tiny-ft
            params: {temperature: 0, max_tokens: 12}
            prompts: [{id: terse, system: "ISO date only.", user: "{{ input }}"}]
            examples: {file: pool.jsonl}
            shots: [0, 1]
            selectors: [first]
            finetune: [{name: tiny-lora, epochs: 1, batch_size: 4}]
            tests:
              items:
                - {id: a, input: "April 2, 1999", expected: "1999-04-02"}
                - {id: b, input: "June 30, 2010", expected: "2010-06-30"}
              assert: [{equals: "{{ expected }}"}]
            """,
            "pool.jsonl": "".join(json.dumps(p) + "\n" for p in pool),
        }
    )
    home = tmp_path / "home"
    outcome = run_experiment(load_experiment(path), RunOptions(home=home, progress=False))
    ids = [v.id for v in outcome.variants]
    assert "terse/k0/local:smollm2+tiny-lora" in ids
    adapter = home / "adapters" / "tiny-lora"
    meta = json.loads((adapter / "harness.json").read_text())
    assert meta["steps"] == 3 and meta["examples"] == 12
    assert all(r.error is None for r in outcome.results)
    decision = decide(outcome, home)
    assert "Recommendation:" in decision.text
    assert decision.recommendation in ("fine-tune", "prompt", "undecided")
    # the shared report carries the same decision, text for text
    assert outcome.report_html is not None
    page = outcome.report_html.read_text("utf-8")
    assert '<section id="decision">' in page and str(escape(decision.text)) in page
    # a second run trains nothing and queries nothing
    again = run_experiment(load_experiment(path), RunOptions(home=home, progress=False))
    assert again.stats.requested == 0
    assert json.loads((adapter / "harness.json").read_text())["created"] == meta["created"]


def test_cli_prepare_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness._cli.main import main

    out = tmp_path / "train.jsonl"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "finetune",
                "prepare",
                str(EXPERIMENTS / "date_iso.yaml"),
                "--prompt",
                "terse",
                "-o",
                str(out),
            ]
        )
    assert info.value.code == 0
    err = capsys.readouterr().err
    assert "removed 3 pool item(s)" in err and "d022" in err
    assert (tmp_path / "train.val.jsonl").exists()
    with pytest.raises(SystemExit) as info:
        main(["finetune", "validate", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert info.value.code == 0 and report["n_examples"] == 69
    assert report["errors"] == {} or not any(report["errors"].values())


@pytest.mark.slow
def test_text_mode_lowers_held_out_perplexity(tmp_path: Path) -> None:
    from harness.finetune.lora import LoraConfig, train_lora

    corpus = tmp_path / "corpus.txt"
    sentence = (
        "The quarterly ledger of the Zarnic Guild lists {} copper ingots shipped to Velmora. "
    )
    corpus.write_text("".join(sentence.format(i) for i in range(200)))
    adapter = train_lora(
        corpus,
        LoraConfig(name="text-lora", mode="text", epochs=1, max_length=128, batch_size=4),
        home=tmp_path / "home",
    )
    assert adapter.perplexity_before is not None and adapter.perplexity_after is not None
    assert adapter.perplexity_after < adapter.perplexity_before


def test_qlora_needs_a_gpu_and_says_why(tmp_path: Path) -> None:
    from harness.errors import HarnessError
    from harness.finetune.lora import LoraConfig, _load_model

    with pytest.raises(HarnessError, match="--qlora needs a CUDA GPU"):
        _load_model(str(tmp_path), LoraConfig(name="q", qlora=True), "cpu")


def test_sizes_declare_nested_models(write: WriteFiles) -> None:
    from harness.finetune.experiment import finetuned_models

    path = write(
        {
            "e.yaml": """
        name: t
        prompts: [{id: p, user: "{{ input }}"}]
        examples: {items: [{input: a, expected: b}]}
        finetune: [{name: lora, sizes: [10, 25]}]
        tests: {items: [{input: c}]}
        """
        }
    )
    models = finetuned_models(load_experiment(path))
    assert [m.variant.id for m in models] == [
        "p/k0/local:smollm2+lora",
        "p/k0/local:smollm2+lora-n10",
        "p/k0/local:smollm2+lora-n25",
    ]


@pytest.mark.slow
def test_cli_train_nested_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import run_cli

    data = tmp_path / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"May {i + 1}, 2001"},
                {"role": "assistant", "content": f"2001-05-{i + 1:02d}"},
            ]
        }
        for i in range(8)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    home = tmp_path / "home"
    code, out, _ = run_cli(
        [
            "finetune",
            "train",
            str(data),
            "--name",
            "tiny",
            "--epochs",
            "1",
            "--sizes",
            "4,8",
            "--home",
            str(home),
        ],
        capsys,
    )
    assert code == 0
    assert "local:smollm2+tiny-n4: 4 examples" in out and "local:smollm2+tiny-n8: 8 examples" in out
    assert (tmp_path / "train.n4.jsonl").read_text().splitlines() == [
        json.dumps(r) for r in rows[:4]
    ]
    code, _, err = run_cli(
        ["finetune", "train", str(data), "--name", "x", "--sizes", "20", "--home", str(home)],
        capsys,
    )
    assert code == 2 and "exceed its 8 examples" in err
