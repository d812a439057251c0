"""``harness decide`` priced by machine time: local and served models cost the machine seconds
their answers took (recorded in each result, kept by the cache), a local adapter's training
costs its recorded training seconds, and a model serving an adapter trained here is that
adapter's fine-tuned model."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from harness.errors import FinetuneError
from harness.experiment import Variant, load_experiment
from harness.home import adapter_meta_path
from harness.models._compute import MachineClock
from harness.models.pricing import DEFAULT_CPU_HOUR_PRICE
from harness.report.decide import decide, machine_cost
from harness.report.summary import Summary, is_finetuned, summarize_run
from harness.results import Result
from tests.conftest import MakeExperiment, WriteFiles, run_cli
from tests.openai_server import FakeOpenAIServer


@dataclass(frozen=True)
class _Run:
    summary: Summary
    results: Sequence[Result]
    selection: Summary | None = None


def _write_adapter(home: Path, name: str, seconds: float, device: str = "cpu") -> None:
    """What training leaves in the home's adapter record (see harness.finetune.lora)."""
    path = adapter_meta_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"base": "smollm2", "seconds": seconds, "examples": 77, "device": device, "steps": 60}
    meta |= {"losses": [1.0 / (1 + i) for i in range(60)], "eval_losses": [[1, 0.3], [2, 0.2]]}
    meta |= {"config": {"epochs": 2}}
    path.write_text(json.dumps(meta), "utf-8")


def _answers(variant: Variant, passed: list[bool], seconds: list[float], **kw: Any) -> list[Result]:
    return [
        Result(
            variant.id,
            f"c{i}",
            0,
            f"{variant.id}-{i}",
            "x",
            passed=p,
            compute_s=s,
            compute_device=kw.get("device", "cpu"),
            cached=kw.get("cached", False),
        )
        for i, (p, s) in enumerate(zip(passed, seconds, strict=True))
    ]


def _breakeven(text: str, variant: str) -> str:
    row = next(line for line in text.splitlines() if line.startswith(variant + " "))
    found = re.search(r"([\d,]+) queries", row)
    return found.group(1) if found else "—"


PROMPT = Variant("terse/k8/first/local:m", "terse", 8, "first", None, "local:m")
TUNED = Variant("terse/k0/local:m+lora", "terse", 0, None, None, "local:m+lora")
BEST_S = [0.30, 0.34, 0.26, 0.30]  # the long prompt: more machine time per answer
TUNED_S = [0.05, 0.07, 0.06, 0.06]


def _decide(home: Path, prompt: Variant = PROMPT, **kw: Any) -> tuple[str, list[Result]]:
    results = _answers(prompt, [True, False, True, False], BEST_S, **kw) + _answers(
        TUNED, [True] * 4, TUNED_S, **kw
    )
    summary, selection = summarize_run([prompt, TUNED], results)
    return decide(_Run(summary, results, selection), home).text, results


def test_break_even_from_the_recorded_machine_time(tmp_path: Path) -> None:
    _write_adapter(tmp_path, "lora", seconds=118.0)
    text, _ = _decide(tmp_path)
    price = DEFAULT_CPU_HOUR_PRICE
    best_1k = sum(BEST_S) / 4 * price / 3600 * 1000
    tuned_1k = sum(TUNED_S) / 4 * price / 3600 * 1000
    training = 118.0 / 3600 * price
    assert f"{best_1k:.4f}" in text and f"{tuned_1k:.4f}" in text
    assert f"${training:.4f} (118 s of local cpu training on 77 examples at ${price:g}/h)" in text
    assert _breakeven(text, TUNED.id) == f"{training / (best_1k - tuned_1k) * 1000:,.0f}"
    assert "machine s/query" in text and "0.3 (cpu)" in text
    assert f"local:m, local:m+lora ${price:g}/h (default CPU price DEFAULT_CPU_HOUR_PRICE" in text
    assert "of them cached" not in text


def test_a_merged_export_is_the_fine_tuned_model_of_its_training_run(tmp_path: Path) -> None:
    # `harness finetune export --format merged` leaves the training record in the model
    # folder: the merged model is that run's fine-tuned model even on another machine (a
    # home without the adapter), never a "prompt" that could win as the best prompt
    folder = tmp_path / "date-merged"
    folder.mkdir()
    record = {"seconds": 60.0, "examples": 77, "device": "cpu", "exported_from": "date-lora"}
    (folder / "harness.json").write_text(json.dumps({**record, "format": "merged"}), "utf-8")
    merged = Variant(f"terse/k0/local:{folder}", "terse", 0, None, None, f"local:{folder}")
    assert is_finetuned(merged) and not is_finetuned(PROMPT)
    results = _answers(PROMPT, [True, False, True, False], BEST_S) + _answers(
        merged, [True] * 4, TUNED_S
    )
    summary, selection = summarize_run([PROMPT, merged], results)
    text = decide(_Run(summary, results, selection), tmp_path / "other-home").text
    assert f"{PROMPT.id} (best prompt)" in text
    assert "$0.0017 (60 s of local cpu training on 77 examples" in text
    assert _breakeven(text, merged.id) != "—"
    # a plain model folder (no record, or one that is not an export's) is a base model
    (folder / "harness.json").write_text(json.dumps(record | {"exported_from": 3}), "utf-8")
    assert not is_finetuned(merged)


def test_a_damaged_training_record_leaves_the_cost_unknown(tmp_path: Path) -> None:
    path = adapter_meta_path(tmp_path, "lora")
    path.parent.mkdir(parents=True)
    for damaged in ("{not json", "[]", json.dumps({"seconds": "long", "examples": 77})):
        path.write_text(damaged, "utf-8")
        text, _ = _decide(tmp_path)
        assert "local training (time not recorded)" in text


def test_training_on_several_cpu_processes_takes_the_cpu_price(tmp_path: Path) -> None:
    _write_adapter(tmp_path, "lora", seconds=118.0, device="2x cpu")  # accelerate, use_cpu
    text, _ = _decide(tmp_path)
    assert f"118 s of local 2x cpu training on 77 examples at ${DEFAULT_CPU_HOUR_PRICE:g}/h" in text


def test_compute_price_scales_costs_and_keeps_a_one_machine_break_even(tmp_path: Path) -> None:
    _write_adapter(tmp_path, "lora", seconds=118.0)
    default, _ = _decide(tmp_path)
    # the adapter takes its base model's compute_price: one machine, four times the price
    priced, _ = _decide(tmp_path, replace(PROMPT, compute_price=4 * DEFAULT_CPU_HOUR_PRICE))
    for seconds in (sum(BEST_S) / 4, sum(TUNED_S) / 4):  # $ / 1k queries
        before = seconds * DEFAULT_CPU_HOUR_PRICE / 3600 * 1000
        assert f"{before:.4f}" in default and f"{4 * before:.4f}" in priced
    training = 118.0 / 3600 * DEFAULT_CPU_HOUR_PRICE
    assert f"${training:.4f} (118 s" in default and f"${4 * training:.4f} (118 s" in priced
    assert "compute_price of local:m" in priced and "compute_price of its base local:m" in priced
    # training and queries both scale with the price: the volume to break even does not
    assert _breakeven(priced, TUNED.id) == _breakeven(default, TUNED.id) != "—"


def test_cached_answers_count_at_the_time_measured_when_generated(tmp_path: Path) -> None:
    _write_adapter(tmp_path, "lora", seconds=118.0)
    fresh, _ = _decide(tmp_path)
    cached, results = _decide(tmp_path, cached=True)
    assert _breakeven(cached, TUNED.id) == _breakeven(fresh, TUNED.id) != "—"
    assert "8 of them cached, counted at the time measured when they were generated" in cached
    # an answer cached before answers kept their time has none: no price, and it says why
    untimed = [replace(r, compute_s=None, compute_device=None) for r in results]
    summary, selection = summarize_run([PROMPT, TUNED], untimed)
    text = decide(_Run(summary, untimed, selection), tmp_path).text
    assert _breakeven(text, TUNED.id) == "—"
    assert "local:m: no machine time recorded (its answers were cached before" in text


def test_a_gpu_has_no_default_price(tmp_path: Path) -> None:
    _write_adapter(tmp_path, "lora", seconds=30.0, device="cuda")
    text, results = _decide(tmp_path, device="cuda:0")
    assert _breakeven(text, TUNED.id) == "—"
    assert "ran on cuda:0, which has no default price (set its compute_price)" in text
    assert "30 s of local cuda training on 77 examples (set compute_price to price it)" in text
    cost = machine_cost(replace(TUNED, compute_price=2.5), results)
    assert cost.price == 2.5 and cost.per_1k == pytest.approx(0.06 * 2.5 / 3.6)


def test_machine_time_of_overlapping_jobs_is_shared() -> None:
    clock = MachineClock()
    started = time.perf_counter()
    first = clock.start()
    time.sleep(0.05)
    second = clock.start()
    time.sleep(0.05)
    one = clock.stop(first)
    time.sleep(0.05)
    two = clock.stop(second)
    busy = time.perf_counter() - started
    assert one + two == pytest.approx(busy, abs=0.01)  # the machine's time, counted once
    assert two < one + 0.03 and one > 0.06  # the overlap went half to each

    shares: list[float] = []

    def job() -> None:
        mark = clock.start()
        time.sleep(0.05)
        shares.append(clock.stop(mark))

    threads = [threading.Thread(target=job) for _ in range(4)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(shares) == pytest.approx(time.perf_counter() - started, abs=0.02)


def test_the_cache_keeps_an_answers_machine_time(tmp_path: Path) -> None:
    from harness._run.cache import ResponseCache, response_entry

    cache = ResponseCache(tmp_path / "cache.sqlite")
    cache.put("timed", response_entry("a", 3, 1, 9.0, "stop", compute_s=0.25, compute_device="cpu"))
    cache.put("untimed", response_entry("b", 3, 1, 9.0, "stop"))
    cache.put("bad", {**response_entry("c", 3, 1, 9.0, "stop"), "compute_s": "soon"})
    cache.flush()
    hits = cache.get_many(["timed", "untimed", "bad"])
    cache.close()
    assert (hits["timed"]["compute_s"], hits["timed"]["compute_device"]) == (0.25, "cpu")
    assert "compute_s" not in hits["untimed"]  # stored as answers always were
    assert hits["bad"]["text"] == "c" and "compute_s" not in hits["bad"]  # the answer stands


# A model served elsewhere (vLLM, llama.cpp) that serves an adapter trained here ------------

SERVED = """
  - id: openai:date-lora
    base_url: {url}
    api_key: sk-test
    adapter: date-lora
    compute_price: 2.0
"""


def _served_experiment(make_experiment: MakeExperiment, server: FakeOpenAIServer) -> Path:
    def respond(body: dict[str, Any]) -> str:
        question = str(body["messages"][-1]["content"])
        return f"echo: {question}" if body["model"] == "date-lora" else "no idea"

    server.responder = respond
    server.latency_s = 0.02
    path = make_experiment(cases=12, extra="  assert: [{equals: '{{ expected }}'}]\n")
    text = path.read_text().replace(
        "    timeout: 2.0\n", "    timeout: 2.0\n    price: {input: 100, output: 100}\n", 1
    )
    text = text.replace("params:", SERVED.format(url=server.base_url).lstrip("\n") + "params:", 1)
    path.write_text(text)
    return path


def test_a_served_adapter_is_the_fine_tuned_model_of_its_training_run(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from harness._run.pipeline import RunOptions, run_experiment

    path = _served_experiment(make_experiment, server)
    home = tmp_path / "home"
    _write_adapter(home, "date-lora", seconds=90.0)
    code, out, err = run_cli(["decide", str(path), "--home", str(home)], capsys)
    assert code == 0, err
    served = "p/k0/openai:date-lora"
    assert re.search(rf"^{re.escape(served)} +100\.0% +\+100\.0", out, re.M), out
    assert "p/k0/openai:echo-1 (best prompt)" in out
    assert "$0.0500 (90 s of local cpu training on 77 examples at $2/h)" in out
    assert "openai:date-lora $2/h (compute_price of openai:date-lora)" in out
    assert "Recommendation: Fine-tune." in out
    # the report shows how the served adapter was trained: its loss curve, drawn from the
    # training record (60 steps over 2 epochs, eval loss after each)
    page = Path(out.rsplit("report: ", 1)[1].strip()).read_text("utf-8")
    training = page.split('<section id="training">', 1)[1].split("</section>", 1)[0]
    assert "date-lora: 77 examples; 60 steps; 90 s on cpu; eval loss 0.3000, 0.2000" in training
    assert training.count("<svg") == 1 and 'id="train-loss"' in training
    assert training.count("<circle") == 3  # two eval points and the legend's
    # the break-even from the run's records: tokens for the prompt, machine time for the
    # served adapter (its share of the time the server had this run's requests in flight)
    outcome = run_experiment(load_experiment(path), RunOptions(home=home, progress=False))
    variants = {v.variant.id: v for v in outcome.summary.variants}
    assert is_finetuned(variants[served].variant)
    timed = [r.compute_s for r in outcome.results if r.variant == served]
    assert all(r.cached for r in outcome.results) and outcome.stats.compute_s == 0
    assert None not in timed and all(0 < s < 1 for s in timed if s is not None)
    seconds = sum(s for s in timed if s is not None) / len(timed)
    best_1k = variants["p/k0/openai:echo-1"].cost_per_1k
    assert best_1k is not None
    tuned_1k = seconds * 2.0 / 3600 * 1000
    training = 90.0 / 3600 * 2.0
    assert _breakeven(out, served) == f"{training / (best_1k - tuned_1k) * 1000:,.0f}"


def test_a_served_adapter_not_trained_here_is_a_clear_error(
    make_experiment: MakeExperiment,
    server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _served_experiment(make_experiment, server)
    code, out, err = run_cli(["decide", str(path), "--home", str(tmp_path / "home")], capsys)
    assert code == 2
    assert (
        "serves adapter 'date-lora'" in err
        and "harness finetune train DATA --name date-lora" in err
    )
    assert server.count() == 0  # said before anything was asked
    variant = Variant("p/k0/openai:x", "p", 0, None, None, "openai:x", adapter="gone")
    results = _answers(PROMPT, [True], [0.1]) + _answers(variant, [True], [0.1])
    summary, _ = summarize_run([PROMPT, variant], results)
    with pytest.raises(FinetuneError, match="no trained adapter 'gone'"):
        decide(_Run(summary, results), tmp_path)


# The real thing: the embedded model, a real LoRA adapter, timed batches --------------------


@pytest.mark.slow
def test_decide_prices_a_local_adapter_by_measured_machine_time(
    write: WriteFiles, tmp_path: Path
) -> None:
    from harness._run.pipeline import RunOptions, run_experiment

    pool = [
        {"id": f"p{i}", "input": f"March {i + 1}, 2001", "expected": f"2001-03-{i + 1:02d}"}
        for i in range(12)
    ]
    experiment = """
        name: tiny-compute
        models: [{id: local:smollm2{price}}]
        params: {temperature: 0, max_tokens: 4}
        prompts: [{id: terse, system: "Reply with the ISO date only.", user: "{{ input }}"}]
        examples: {file: pool.jsonl}
        shots: [8]
        selectors: [first]
        finetune: [{name: tiny-lora, epochs: 1, batch_size: 4}]
        tests:
          items:
            - {id: a, input: "April 2, 1999", expected: "1999-04-02"}
            - {id: b, input: "June 30, 2010", expected: "2010-06-30"}
            - {id: c, input: "May 5, 2001", expected: "2001-05-05"}
            - {id: d, input: "July 14, 1989", expected: "1989-07-14"}
          assert: [{equals: "{{ expected }}"}]
        """
    path = write(
        {
            "e.yaml": experiment.replace("{price}", ""),
            "pool.jsonl": "".join(json.dumps(p) + "\n" for p in pool),
        }
    )
    home = tmp_path / "home"
    outcome = run_experiment(load_experiment(path), RunOptions(home=home, progress=False))
    best, tuned = "terse/k8/first/local:smollm2", "terse/k0/local:smollm2+tiny-lora"

    def per_query(results: Sequence[Result], variant: str) -> float:
        timed = [r.compute_s for r in results if r.variant == variant]
        assert timed and None not in timed
        return sum(s for s in timed if s is not None) / len(timed)

    def expected(price: float, results: Sequence[Result]) -> tuple[str, str, str, str]:
        meta = json.loads(adapter_meta_path(home, "tiny-lora").read_text())
        best_1k = per_query(results, best) * price / 3600 * 1000
        tuned_1k = per_query(results, tuned) * price / 3600 * 1000
        training = meta["seconds"] / 3600 * price
        assert best_1k > tuned_1k, "the 8-shot prompt should take more machine time"
        payoff = f"{training / (best_1k - tuned_1k) * 1000:,.0f}"
        return f"{best_1k:.4f}", f"{tuned_1k:.4f}", f"${training:.4f}", payoff

    assert all(r.compute_device == "cpu" and not r.cached for r in outcome.results)
    measured = sum(r.compute_s or 0.0 for r in outcome.results)
    assert outcome.stats.compute_s == pytest.approx(measured)
    text = decide(outcome, home).text
    best_1k, tuned_1k, training, payoff = expected(DEFAULT_CPU_HOUR_PRICE, outcome.results)
    assert best_1k in text and tuned_1k in text and training in text
    assert _breakeven(text, tuned) == payoff, text

    # cached: nothing computed now, each answer keeps the time measured when generated
    again = run_experiment(load_experiment(path), RunOptions(home=home, progress=False))
    assert again.stats.requested == 0 and again.stats.compute_s == 0
    first = {(r.variant, r.case): r.compute_s for r in outcome.results}
    assert {(r.variant, r.case): r.compute_s for r in again.results} == first
    assert all(r.cached for r in again.results)
    cached_text = decide(again, home).text
    assert _breakeven(cached_text, tuned) == payoff
    assert "of them cached, counted at the time measured when they were generated" in cached_text

    # compute_price on the model (the adapter takes its base's): every cost scales with it
    path.write_text(
        path.read_text().replace("local:smollm2}", "local:smollm2, compute_price: 0.8}")
    )
    priced = run_experiment(load_experiment(path), RunOptions(home=home, progress=False))
    assert priced.stats.requested == 0  # the price is no part of what the model is asked
    priced_text = decide(priced, home).text
    costs = expected(0.8, priced.results)
    assert all(value in priced_text for value in costs[:3])
    assert _breakeven(priced_text, tuned) == payoff  # one machine: the volume stays
    assert "local:smollm2 $0.8/h (compute_price of local:smollm2)" in priced_text
