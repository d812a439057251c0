"""Report at scale: the shareable HTML report of an 8,000-result run, built and opened.

Synthesizes one finished run folder the way ``harness run`` leaves it (run.json with its
variant records, results.jsonl, requests.json with the messages as sent, shots marked as
the pipeline marks them), then measures the report built from it:

    build    load_run_report (reads the results and requests.json, the summary, the
             paired tests of all 190 variant pairs) and render_html, timed apart; the file's size (goal: at most 15 MB), with the
             share of each part of the embedded data
    load     headless Chromium (Playwright, /usr/bin/chromium) opens the file: from
             page.goto to #table visible, and to the first case row in #case-list
             (goal: under 2 s); the page's own navigation timing and the CDP script,
             layout and style durations show where the time goes
    filter   in the page, with performance.now(): #status set to "fail" (the 'change'
             handler filters synchronously), another #variant, a search both through the
             'change' path and through the debounced 'input' (60 ms debounce taken off),
             and one case opened (the 'toggle' that renders its messages); each timed to
             the rows being in the DOM and again to the next frame (goal: under 200 ms)

The workload: 4 prompts x (0 shots, or 5 shots by fixed, similar, random s1, random s2)
= 20 variants x 400 cases, one model. Every request starts with its prompt's system text
(~600 characters); few-shot requests add 5 user/assistant pairs (~200 characters each)
from a pool of 50 examples; case inputs are ~120 characters, outputs 40-200; each result
has 2 checks with reasons, about 60% pass (by variant and case), about 1% are request
errors. The random generator is seeded, so every run writes the same data (the run id and
its times aside).

Each browser measurement is done on 3 fresh pages; the table shows the median. The page
must send no request other than its own file:// URL (every other request is aborted and
counted) and must log no console error. Absolute times vary 2-3x on shared machines, so
read the numbers against their goals with that margin; the script exits 0 either way.

    .venv/bin/python benchmarks/report_scale.py                   # 8,000 results
    .venv/bin/python benchmarks/report_scale.py --quick           # 1,000 results
    .venv/bin/python benchmarks/report_scale.py --results 20000 --keep /tmp/rs
    .venv/bin/python benchmarks/report_scale.py --profile /tmp/prof   # cProfile dumps

Everything is written to a temporary harness home that is removed afterwards, unless
``--keep DIR`` names a folder to keep it in (the report is then
``DIR/runs/<run id>/report.html``). ``--profile DIR`` writes ``load_run_report.prof`` and
``render_html.prof``; read them with ``python -m pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.experiment import Variant  # noqa: E402
from harness.home import report_path, requests_path  # noqa: E402
from harness.report.html import _script_json, render_html, report_data  # noqa: E402
from harness.report.run_report import load_run_report  # noqa: E402
from harness.results import CheckOutcome, Result  # noqa: E402
from harness.run_requests import SentRequest, write_requests  # noqa: E402
from harness.runs import RunDir, new_run  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
MODEL_KEY, MODEL_ID = "gpt-4o-mini", "openai:gpt-4o-mini"
PARAMS = {"temperature": 0.0, "max_tokens": 128}
PROMPTS = ("p1", "p2", "p3", "p4")
SHOTS = 5
POOL = 50
ROUNDS = 3
SIZE_GOAL_MB = 15.0
LOAD_GOAL_S = 2.0
FILTER_GOAL_MS = 200.0
DEBOUNCE_MS = 60.0
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August")
MONTHS += ("September", "October", "November", "December")
PLACES = ("Leeds", "Lyon", "Porto", "Gdansk", "Utrecht", "Bergen", "Graz", "Cork", "Turku")
THINGS = ("delivery", "invoice", "inspection", "shipment", "audit", "hand-over", "renewal")
FILLER = (
    "Note that the figure was double-checked against the ledger before filing. "
    "The surrounding text also mentions an earlier draft, which is not the answer. "
    "Formatting follows ISO 8601 as requested by the instructions above. "
)
SYSTEM_BASE = (
    "You read short business memos and return the single calendar date they are about. "
    "Answer with the date in ISO 8601 form (YYYY-MM-DD) and nothing else unless asked. "
    "If a memo mentions several dates, the relevant one is the date of the event the memo "
    "reports, not the date it was written, filed or forwarded. Ordinal days (the 3rd, the "
    "21st) and month names in full or abbreviated are both common; two-digit years belong "
    "to the twentieth century. Never invent a date: if none is given, answer 'none'. Keep "
    "the reply on one line; do not add explanations, apologies or markdown formatting. "
)
SYSTEM_LEADS = {
    "p1": "You are a careful records clerk. ",
    "p2": "Role: date extraction service for an archive team. ",
    "p3": "Read the memo twice before answering. ",
    "p4": "Task: normalize the reported date. Be strict. ",
}
USER_TEMPLATES = {
    "p1": "Memo: {input}\nDate:",
    "p2": "Extract the reported date.\n\n{input}",
    "p3": "<memo>{input}</memo>\nWhat date does this memo report?",
    "p4": "Input: {input}\nOutput (YYYY-MM-DD):",
}
# Per-prompt base pass rate; the shots and their selector add to it.
PROMPT_BASE = {"p1": 0.50, "p2": 0.44, "p3": 0.58, "p4": 0.52}
SELECTOR_GAIN = {None: 0.0, "fixed": 0.06, "similar": 0.16, "random": 0.09}
ERRORS = (
    "RateLimitError: Error code: 429 - rate limit reached for requests (after 3 retries)",
    "APITimeoutError: Request timed out after 60.0 s (after 3 retries)",
    "APIConnectionError: Connection error: server disconnected without sending a response",
)


# ---------------------------------------------------------------------------- workload


def memo(rng: random.Random, n: int, width: int) -> tuple[str, str]:
    """A memo of about ``width`` characters and the ISO date it reports."""
    year, month, day = 1900 + rng.randrange(120), rng.randrange(12), 1 + rng.randrange(28)
    suffix = "th" if 4 <= day <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    text = (
        f"Memo {n:04d}: the {rng.choice(THINGS)} at the {rng.choice(PLACES)} office took place "
        f"on the {day}{suffix} of {MONTHS[month]} {year}"
    )
    pad = FILLER[rng.randrange(40) :]
    text = (text + ". " + pad)[: max(width, len(text) + 1)].rstrip() + "."
    return text, f"{year:04d}-{month + 1:02d}-{day:02d}"


def variants() -> list[Variant]:
    """20 variants in plan order: per prompt, k0 then k5 by fixed, similar, random s1/s2."""
    out = []
    for p in PROMPTS:
        out.append(Variant(f"{p}/k0/{MODEL_KEY}", p, 0, None, None, MODEL_KEY))
        for sel, seed in (("fixed", None), ("similar", None), ("random", 1), ("random", 2)):
            vid = f"{p}/k{SHOTS}/{sel}/" + (f"s{seed}/" if seed else "") + MODEL_KEY
            out.append(Variant(vid, p, SHOTS, sel, seed, MODEL_KEY))
    return out


def pick_shots(v: Variant, case_index: int) -> list[str]:
    if v.shots == 0:
        return []
    if v.selector == "fixed":
        return [f"ex-{i:02d}" for i in range(SHOTS)]
    if v.selector == "similar":  # deterministic per case, overlapping neighbours
        return [f"ex-{(case_index * 7 + 3 * i) % POOL:02d}" for i in range(SHOTS)]
    rng = random.Random(f"{v.seed}/{case_index}")
    return [f"ex-{i:02d}" for i in rng.sample(range(POOL), SHOTS)]


def output_text(rng: random.Random, answer: str, ok: bool) -> str:
    """40-200 characters: the date (right, or wrong on some failures), some wordy tails.

    A passing output names the right date within 160 characters; a failing one names a
    wrong date, or the right one at more than 160 characters (the ``concise`` check).
    """
    wrong = not ok and rng.random() < 0.6
    if wrong:
        y, m, d = answer.split("-")
        answer = f"{y}-{d[-1]}{m[-1]}-{m}" if rng.random() < 0.5 else f"{int(y) + 1}-{m}-{d}"
    head = rng.choice(
        (
            f"The memo reports {answer}.",
            f"Date: {answer}",
            f"{answer} (the date of the event itself, not the filing date)",
            f"Reported date: {answer}. The memo was forwarded later.",
        )
    )
    width = rng.randrange(40, 161) if ok else rng.randrange(161, 201)
    if wrong:
        width = rng.randrange(40, 201)
    if len(head) < width:
        head = (head + " " + FILLER[rng.randrange(60) :])[:width].rstrip()
    return head


def build_run(home: Path, n_results: int, seed: int = 7) -> tuple[RunDir, dict[str, int]]:
    """A finished run folder of 20 x (n_results // 20) results; its facts."""
    rng = random.Random(seed)
    vs = variants()
    n_cases = max(1, n_results // len(vs))
    cases: dict[str, dict[str, Any]] = {}
    for i in range(n_cases):
        text, iso = memo(rng, i, 120)
        cases[f"case-{i:04d}"] = {"input": text, "expected": iso}
    pool = {}
    for i in range(POOL):  # user turn ~160 characters + the answer: ~200 a pair
        text, iso = memo(rng, 9000 + i, 150)
        pool[f"ex-{i:02d}"] = (text, iso)
    systems = {p: SYSTEM_LEADS[p] + SYSTEM_BASE for p in PROMPTS}
    difficulty = {c: rng.uniform(-0.3, 0.3) for c in cases}

    results: list[Result] = []
    sent: list[SentRequest] = []
    for v in vs:
        rate = PROMPT_BASE[v.prompt] + SELECTOR_GAIN[v.selector] + rng.uniform(-0.03, 0.03)
        user = USER_TEMPLATES[v.prompt]
        for ci, (cid, case) in enumerate(cases.items()):
            shots = pick_shots(v, ci)
            messages: list[tuple[str, str]] = [("system", systems[v.prompt])]
            for sid in shots:
                messages.append(("user", user.format(input=pool[sid][0])))
                messages.append(("assistant", pool[sid][1]))
            messages.append(("user", user.format(input=case["input"])))
            # as the pipeline marks them: each shot's user/assistant pair carries its pool id
            owners = [None] + [sid for sid in shots for _ in (0, 1)] + [None]
            key = hashlib.sha256(json.dumps([MODEL_ID, messages, PARAMS, 0]).encode()).hexdigest()
            sent.append(
                SentRequest(
                    key,
                    [(r, c, o, None) for (r, c), o in zip(messages, owners, strict=True)],
                    PARAMS,
                )
            )
            tokens_in = sum(len(c) for _, c in messages) // 4 + 4 * len(messages)
            latency = rng.lognormvariate(6.6, 0.45)
            common = dict(
                variant=v.id,
                case=cid,
                repeat=0,
                key=key,
                latency_ms=round(latency, 1),
                shots=tuple(shots),
            )
            if rng.random() < 0.01:
                results.append(Result(output=None, error=rng.choice(ERRORS), **common))
                continue
            ok = rng.random() < rate + difficulty[cid]
            out = output_text(rng, case["expected"], ok)
            date_ok = case["expected"] in out
            found = re.search(r"\d{4}-\d\d-\d\d", out)
            checks = (
                CheckOutcome(
                    "date_matches",
                    date_ok,
                    f"found {case['expected']}"
                    if date_ok
                    else f"expected {case['expected']}, found {found and found.group()!r}",
                ),
                CheckOutcome(
                    "concise",
                    len(out) <= 160,
                    f"{len(out)} characters, limit 160"
                    if len(out) <= 160
                    else f"{len(out)} characters is over the limit of 160",
                ),
            )
            passed = all(c.passed for c in checks)
            tokens_out = max(1, len(out) // 4)
            results.append(
                Result(
                    output=out,
                    prompt_tokens=tokens_in,
                    completion_tokens=tokens_out,
                    finish_reason="stop",
                    cost=round((tokens_in * 0.15 + tokens_out * 0.6) / 1e6, 8),
                    passed=passed,
                    score=1.0 if passed else 0.0,
                    checks=checks,
                    **common,
                )
            )

    started = time.time() - 1800
    run, lock = new_run(
        home,
        "dates-at-scale",
        ROOT / "experiments" / "dates-at-scale.yaml",
        "name: dates-at-scale\n# synthesized by benchmarks/report_scale.py\n",
        {
            "variants": [v.id for v in vs],
            "models": {MODEL_KEY: MODEL_ID},
            "cases": n_cases,
            "description": "Synthetic run for benchmarks/report_scale.py: 4 prompts x 5 shot "
            "settings on date extraction.",
            "command": "harness run experiments/dates-at-scale.yaml",
            "harness_version": "bench",
            "baseline": vs[0].id,
            "min_pass_rate": 0.5,
            "variant_records": [dataclasses.asdict(v) for v in vs],
        },
    )
    try:
        write_requests(requests_path(run.path), sent, cases)
        run.write_results(results)
        run.update(
            status="finished",
            started=started,
            finished=started + 1750.0,
            stats={
                "total": len(results),
                "resumed": 0,
                "cached": 0,
                "requested": len(results),
                "retries": 41,
                "errors": sum(r.error is not None for r in results),
                "cost": sum(r.cost or 0 for r in results),
                "prompt_tokens": sum(r.prompt_tokens or 0 for r in results),
                "completion_tokens": sum(r.completion_tokens or 0 for r in results),
            },
        )
    finally:
        lock.release()
    facts = {
        "variants": len(vs),
        "cases": n_cases,
        "results": len(results),
        "errors": sum(r.error is not None for r in results),
        "passed": sum(r.passed is True for r in results),
        "requests_json": requests_path(run.path).stat().st_size,
    }
    return run, facts


# ---------------------------------------------------------------------------- build


def timed(fn: Callable[[], Any], profile: Path | None, name: str) -> tuple[Any, float]:
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    value = fn()
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - t0
    if prof and profile:
        profile.mkdir(parents=True, exist_ok=True)
        prof.dump_stats(profile / f"{name}.prof")
    return value, elapsed


def size_breakdown(report: Any, html: str) -> list[tuple[str, int]]:
    """Bytes of each part of the page: the embedded data's keys, result fields, the rest."""
    data = report_data(report)
    size = lambda value: len(_script_json(value).encode())  # noqa: E731
    parts = [(f"data.{k}", size(v)) for k, v in data.items()]
    results = data["results"]
    fields = {"o": "output", "k": "checks", "q": "key", "sh": "shots", "c": "case"}
    for f, label in fields.items():
        parts.append((f"  results: {label}", sum(size(r[f]) for r in results)))
    whole = len(html.encode())
    parts.append(("everything else (HTML, CSS, JS)", whole - size(data)))
    return parts


# ---------------------------------------------------------------------------- browser

# Runs before the page's own script: notes when the first case row and the table appear.
INIT_SCRIPT = """
window.__marks = {};
new MutationObserver((_, observer) => {
  const m = window.__marks;
  if (m.table === undefined && document.getElementById("table")) m.table = performance.now();
  if (m.rows === undefined && document.querySelector("#case-list details")) {
    m.rows = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""

# Each probe returns {sync, frame} in ms: to the rows being in the DOM (layout forced), and
# to the next frame after that.
PROBE_FILTER = """async ([id, value]) => {
  const $ = (x) => document.getElementById(x);
  const select = $(id), before = $("count").textContent;
  select.value = value;
  const t0 = performance.now();
  select.dispatchEvent(new Event("change"));
  void document.body.offsetHeight;
  const t1 = performance.now();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const t2 = performance.now();
  return {sync: t1 - t0, frame: t2 - t0, before, after: $("count").textContent,
          rows: document.querySelectorAll("#case-list details").length};
}"""
PROBE_SEARCH_CHANGE = """async (needle) => {
  const $ = (x) => document.getElementById(x);
  $("search").value = needle;
  const t0 = performance.now();
  $("status").dispatchEvent(new Event("change"));
  void document.body.offsetHeight;
  const t1 = performance.now();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const t2 = performance.now();
  return {sync: t1 - t0, frame: t2 - t0, after: $("count").textContent};
}"""
# "sync" here still includes the debounce; Python takes DEBOUNCE_MS off.
PROBE_SEARCH_INPUT = """async (needle) => {
  const $ = (x) => document.getElementById(x);
  const count = $("count"), before = count.textContent;
  const changed = new Promise((resolve) => new MutationObserver((_, o) => {
    o.disconnect(); resolve();
  }).observe(count, {childList: true, characterData: true, subtree: true}));
  $("search").value = needle;
  const t0 = performance.now();
  $("search").dispatchEvent(new Event("input"));
  await changed;
  void document.body.offsetHeight;
  const t1 = performance.now();
  return {sync: t1 - t0, before, after: count.textContent};
}"""
PROBE_OPEN = """async () => {
  const details = document.querySelector("#case-list details");
  const body = new Promise((resolve) => new MutationObserver((_, o) => {
    o.disconnect(); resolve();
  }).observe(details, {childList: true}));
  const t0 = performance.now();
  details.open = true;
  await body;
  void document.body.offsetHeight;
  const t1 = performance.now();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const t2 = performance.now();
  return {sync: t1 - t0, frame: t2 - t0,
          messages: details.querySelectorAll(".msg").length,
          shot_messages: details.querySelectorAll(".msg.shot").length,
          case: details.dataset.case};
}"""
PROBE_PARSE = """() => {
  const text = document.getElementById("report-data").textContent;
  const t0 = performance.now();
  JSON.parse(text);
  return performance.now() - t0;
}"""
NAV_TIMING = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  return {response_end: n.responseEnd, dom_interactive: n.domInteractive,
          dcl_end: n.domContentLoadedEventEnd, load_end: n.loadEventEnd,
          table: window.__marks.table, rows: window.__marks.rows};
}"""


def browse(html_path: Path, quiet: bool) -> dict[str, Any]:
    """ROUNDS fresh pages: load, filter, search, open a case; every number per round."""
    from playwright.sync_api import sync_playwright

    url = html_path.resolve().as_uri()
    rounds: list[dict[str, Any]] = []
    blocked: list[str] = []
    errors: list[str] = []
    other_requests: list[str] = []

    def route(r: Any) -> None:
        if r.request.url == url:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    def on_request(request: Any) -> None:
        if request.url != url and not request.url.startswith(("data:", "about:", "blob:")):
            other_requests.append(request.url)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        context.route("**/*", route)
        context.add_init_script(INIT_SCRIPT)
        for i in range(ROUNDS):
            page = context.new_page()
            page.on("request", on_request)
            page.on(
                "console",
                lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            cdp = context.new_cdp_session(page)
            cdp.send("Performance.enable")
            t0 = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=120_000)
            page.wait_for_selector("#table", state="visible", timeout=120_000)
            t_table = time.perf_counter() - t0
            page.wait_for_selector("#case-list details", state="attached", timeout=120_000)
            t_rows = time.perf_counter() - t0
            page.wait_for_load_state("load")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            nav = page.evaluate(NAV_TIMING)
            row: dict[str, Any] = {
                "table_s": t_table,
                "rows_s": t_rows,
                "nav": nav,
                "script_s": metrics.get("ScriptDuration", 0.0),
                "layout_s": metrics.get("LayoutDuration", 0.0),
                "style_s": metrics.get("RecalcStyleDuration", 0.0),
                "task_s": metrics.get("TaskDuration", 0.0),
                "heap_mb": metrics.get("JSHeapUsedSize", 0.0) / 2**20,
                "parse_ms": page.evaluate(PROBE_PARSE),
            }
            # Filters, with performance.now() in the page (fresh page: caches cold).
            row["fail"] = page.evaluate(PROBE_FILTER, ["status", "fail"])
            row["all"] = page.evaluate(PROBE_FILTER, ["status", "all"])
            t1 = time.perf_counter()  # the same filter, as a test driver sees it
            before = page.text_content("#count")
            page.select_option("#status", "fail")
            page.wait_for_function(
                "(b) => document.getElementById('count').textContent !== b", arg=before
            )
            row["roundtrip_ms"] = 1000 * (time.perf_counter() - t1)
            page.evaluate(PROBE_FILTER, ["status", "all"])
            row["variant"] = page.evaluate(PROBE_FILTER, ["variant", str(3 + i)])
            row["search"] = page.evaluate(PROBE_SEARCH_CHANGE, "leeds")
            page.evaluate(PROBE_SEARCH_CHANGE, "")
            row["search_input"] = page.evaluate(PROBE_SEARCH_INPUT, "march 19")
            row["search_input"]["sync"] -= DEBOUNCE_MS
            page.evaluate(PROBE_SEARCH_CHANGE, "")
            row["open"] = page.evaluate(PROBE_OPEN)
            rounds.append(row)
            if not quiet:
                print(
                    f"  round {i + 1}: table {t_table:.2f} s, rows {t_rows:.2f} s, "
                    f"filter {row['fail']['sync']:.1f} ms, search {row['search']['sync']:.1f} ms,"
                    f" open {row['open']['sync']:.1f} ms",
                    file=sys.stderr,
                )
            cdp.detach()
            page.close()
        version = browser.version
        browser.close()
    return {
        "rounds": rounds,
        "blocked": blocked,
        "requests": other_requests,
        "errors": errors,
        "version": version,
    }


# ---------------------------------------------------------------------------- report


def median(rounds: list[dict[str, Any]], *path: str) -> float:
    values = []
    for row in rounds:
        value: Any = row
        for step in path:
            value = value[step]
        values.append(float(value))
    return statistics.median(values)


def verdict(value: float, goal: float | None) -> str:
    if goal is None:
        return ""
    return "[ok]" if value <= goal else "[MISS]"


def print_report(
    facts: dict[str, int],
    build: dict[str, float],
    size_mb: float,
    parts: list[tuple[str, int]],
    web: dict[str, Any],
) -> None:
    r = web["rounds"]
    lines: list[tuple[str, str, str, str]] = [
        ("build: load_run_report", f"{build['load']:.2f} s", "", ""),
        ("build: render_html", f"{build['render']:.2f} s", "", ""),
        ("report file size", f"{size_mb:.2f} MB", f"<= {SIZE_GOAL_MB:g} MB", ""),
    ]
    lines[-1] = (*lines[-1][:3], verdict(size_mb, SIZE_GOAL_MB))

    def timing(label: str, value: float, unit: str, goal: float | None) -> None:
        text = f"{value:.2f} s" if unit == "s" else f"{value:.1f} ms"
        want = "" if goal is None else (f"< {goal:g} {unit}")
        lines.append((label, text, want, verdict(value, goal)))

    timing("open: goto -> #table visible", median(r, "table_s"), "s", LOAD_GOAL_S)
    timing("open: goto -> first case row", median(r, "rows_s"), "s", LOAD_GOAL_S)
    timing("filter: status=fail (in page)", median(r, "fail", "sync"), "ms", FILTER_GOAL_MS)
    timing("  ... to next frame", median(r, "fail", "frame"), "ms", None)
    timing("  ... select_option round trip", median(r, "roundtrip_ms"), "ms", None)
    timing("filter: another variant", median(r, "variant", "sync"), "ms", FILTER_GOAL_MS)
    timing("search 'leeds' (change path)", median(r, "search", "sync"), "ms", FILTER_GOAL_MS)
    timing("search via input, -60 ms debounce", median(r, "search_input", "sync"), "ms", None)
    timing("open one case (toggle)", median(r, "open", "sync"), "ms", FILTER_GOAL_MS)
    timing("  ... to next frame", median(r, "open", "frame"), "ms", None)
    net = len(set(web["blocked"]) | set(web["requests"]))  # the same URL is seen by both
    lines.append(("requests other than the file", str(net), "0", "[ok]" if net == 0 else "[MISS]"))
    errs = len(web["errors"])
    lines.append(("console errors", str(errs), "0", "[ok]" if errs == 0 else "[MISS]"))

    print(
        f"\nreport at scale: {facts['results']:,} results = {facts['variants']} variants x "
        f"{facts['cases']} cases ({facts['passed'] / facts['results']:.0%} pass, "
        f"{facts['errors']} errors); requests.json {facts['requests_json'] / 1e6:.2f} MB; "
        f"{web['version']}, median of {ROUNDS} fresh pages\n"
    )
    width = max(len(x[0]) for x in lines)
    for label, value, goal, mark in lines:
        print(f"  {label:<{width}}  {value:>10}  {goal:>9}  {mark}")

    print("\nsize of the page, by part (MB):")
    total = sum(b for name, b in parts if not name.startswith(" "))
    for name, b in parts:
        print(f"  {name:<34} {b / 1e6:6.2f}  {b / total:5.1%}")

    nav = [row["nav"] for row in r]
    mid = lambda key: statistics.median(float(n[key] or 0) for n in nav)  # noqa: E731
    print("\nwhere the load goes (medians, ms since navigation start, in the page):")
    print(
        f"  file read done {mid('response_end'):.0f} · table parsed {mid('table'):.0f} · "
        f"first case row {mid('rows'):.0f} · DOM interactive {mid('dom_interactive'):.0f} · "
        f"load {mid('load_end'):.0f}"
    )
    print(
        f"  JSON.parse of the data alone {median(r, 'parse_ms'):.0f} ms; CDP totals: script "
        f"{1000 * median(r, 'script_s'):.0f} ms, layout {1000 * median(r, 'layout_s'):.0f} ms, "
        f"style {1000 * median(r, 'style_s'):.0f} ms, all tasks {1000 * median(r, 'task_s'):.0f} "
        f"ms; JS heap {median(r, 'heap_mb'):.0f} MB"
    )
    shot = r[0]["open"]
    print(
        f"  opened {shot['case']}: {shot['messages']} messages, {shot['shot_messages']} marked "
        f"as shots; status=fail shows {r[0]['fail']['after']!r}"
    )
    network = sorted(set(web["blocked"]) | set(web["requests"]))
    for problem in (web["errors"] + [f"request: {u}" for u in network])[:10]:
        print(f"  ! {problem}")
    print(
        "\nAbsolute times vary 2-3x on these shared, noisy machines: a [MISS] within that "
        "margin is a hint, not a verdict. Run again (or on a quiet machine) before acting."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="See the module docstring for details."
    )
    parser.add_argument("--results", type=int, default=8000, help="results (20 variants)")
    parser.add_argument("--quick", action="store_true", help="1,000 results")
    parser.add_argument("--keep", type=Path, help="write the harness home here and keep it")
    parser.add_argument("--profile", type=Path, help="write cProfile dumps of the build here")
    parser.add_argument("--no-browser", action="store_true", help="build and size only")
    args = parser.parse_args(argv)
    n = 1000 if args.quick else args.results

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        home, cleanup = args.keep.resolve(), False
    else:
        home, cleanup = Path(tempfile.mkdtemp(prefix="report-scale-")), True
    try:
        t0 = time.perf_counter()
        run, facts = build_run(home, n)
        print(f"synthesized {run.path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        report, t_load = timed(
            lambda: load_run_report(run, home=home), args.profile, "load_run_report"
        )
        html, t_render = timed(lambda: render_html(report), args.profile, "render_html")
        path = report_path(run.path)
        path.write_text(html, "utf-8")
        size_mb = path.stat().st_size / 1e6
        parts = size_breakdown(report, html)
        build = {"load": t_load, "render": t_render}
        print(f"wrote {path} ({size_mb:.2f} MB)", file=sys.stderr)
        if args.no_browser:
            print(f"load_run_report {t_load:.2f} s, render_html {t_render:.2f} s, {size_mb:.2f} MB")
            return 0
        web = browse(path, quiet=False)
        print_report(facts, build, size_mb, parts, web)
        if args.keep:
            print(f"\nkept: {path}")
    finally:
        if cleanup:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
