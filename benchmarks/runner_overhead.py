"""Runner overhead: the harness against bare HTTP clients on one fake OpenAI server.

4 prompts x N cases (default 2,000 -> 8,000 chat requests) against
``python -m tests.openai_server`` (own process, fixed latency). Each part runs in a fresh
subprocess of this script, so its peak RSS (ru_maxrss) is its own:

    aiohttp  bare aiohttp ClientSession + Semaphore(C): does the server keep up?
    openai   bare openai.AsyncOpenAI(max_retries=0) + Semaphore(C): the reference client
    harness  run_experiment(use_cache=False), fresh home: harness overhead over the client
    fill     run_experiment(use_cache=True) on an empty cache (fills it for `cached`)
    cached   run_experiment(use_cache=True) again, every result from the cache: first in a
             fresh process (pays the lazy provider import), then again in that process

Wall time and CPU (getrusage user+sys of the measuring process; the server's CPU is read
from /proc and shown apart) cover the measured section only: not interpreter start-up,
not imports (the harness parts import the openai provider first, as the bare parts import
openai/aiohttp), and not load_experiment unless a column says so. Ratios come from the
same invocation, so they hold on a noisy machine; absolute numbers are printed beside.

    .venv/bin/python benchmarks/runner_overhead.py [--cases 2000] [--concurrency 32]
        [--latency 0.05] [--quick] [--rounds 1] [--parts harness,cached] [--profile DIR]

--profile DIR writes a cProfile dump of each part's measured section to DIR/<part>.prof
(and DIR/cached-warm.prof); read them with ``python -m pstats`` or snakeviz.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = 4
PARAMS = {"temperature": 0, "max_tokens": 8}  # as in the experiment file
PARTS = ("aiohttp", "openai", "harness", "fill", "cached")
# Measured elsewhere on this workload: (name, x ideal, CPU ms/request, peak MB, cached/s).
ANCHORS = [
    ("bare openai client", "1.17", "1.45", "79", "-"),
    ("lm-evaluation-harness", "2.7", "3.1", "344", "461"),
    ("promptfoo", "6.1", "6.2", "600", "289"),
    ("Inspect AI", "9.9-13.5", "16-21", "330", "80"),
]


# ---------------------------------------------------------------------------- workload


def case_input(i: int) -> str:
    return f"What is the ISO date for the {i % 28 + 1}th of March {1900 + i % 120}? (#{i})"


def write_experiment(folder: Path, cases: int, base_url: str) -> Path:
    with (folder / "cases.jsonl").open("w") as f:
        for i in range(cases):
            f.write(json.dumps({"id": f"c{i}", "input": case_input(i)}) + "\n")
    prompts = "".join(
        f'  - {{id: p{j}, user: "Q{j}: {{{{ input }}}}"}}\n' for j in range(1, PROMPTS + 1)
    )
    path = folder / "bench.yaml"
    path.write_text(
        "name: bench\nmodels:\n  - id: openai:bench-model\n"
        f"    base_url: {base_url}\n    api_key: sk-bench\n"
        "params: {temperature: 0, max_tokens: 8}\n"
        f"prompts:\n{prompts}tests:\n  file: cases.jsonl\n"
    )
    return path


def bare_messages(cases: int) -> list[list[dict[str, str]]]:
    """The messages the harness renders, built by hand (variant-major, like the harness)."""
    return [
        [{"role": "user", "content": f"Q{j}: {case_input(i)}"}]
        for j in range(1, PROMPTS + 1)
        for i in range(cases)
    ]


# ---------------------------------------------------------------------------- one part


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Meter:
    """Wall and CPU time of a block (this process), optionally under cProfile."""

    def __init__(self, profile: str | None = None) -> None:
        self.profile, self.wall, self.cpu = profile, 0.0, 0.0

    def __enter__(self) -> Meter:
        import cProfile

        self._prof = cProfile.Profile() if self.profile else None
        if self._prof is not None:
            self._prof.enable()
        self._cpu0, self._wall0 = cpu_s(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall0, cpu_s() - self._cpu0
        if self._prof is not None:
            self._prof.disable()
            self._prof.dump_stats(self.profile)


async def bare_aiohttp(url: str, batches: list, concurrency: int) -> list:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": "Bearer sk-bench"}
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def one(messages: list) -> str | None:
            body = {"model": "bench-model", "messages": messages, **PARAMS}
            async with sem, session.post(f"{url}/chat/completions", json=body) as r:
                r.raise_for_status()
                data = await r.json()
            return data["choices"][0]["message"]["content"]

        return await asyncio.gather(*(one(m) for m in batches))


async def bare_openai(url: str, batches: list, concurrency: int) -> list:
    import openai

    sem = asyncio.Semaphore(concurrency)
    async with openai.AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0) as client:

        async def one(messages: list) -> str | None:
            async with sem:
                r = await client.chat.completions.create(
                    model="bench-model", messages=messages, **PARAMS
                )
            return r.choices[0].message.content

        return await asyncio.gather(*(one(m) for m in batches))


def run_part(args: argparse.Namespace) -> dict:
    """Run one measured part in this (fresh) process; returns its numbers."""
    out: dict = {}
    if args.part in ("aiohttp", "openai"):
        import aiohttp  # noqa: F401 - imports stay outside the measured section
        import openai  # noqa: F401

        batches = bare_messages(args.cases)
        fn = bare_aiohttp if args.part == "aiohttp" else bare_openai
        out["rss_before_mb"] = maxrss_mb()
        with Meter(args.profile) as m:
            answers = asyncio.run(fn(args.url, batches, args.concurrency))
        out.update(n=len(answers), errors=sum(a is None for a in answers))
    else:
        start = time.perf_counter()
        from harness._run.pipeline import RunOptions, run_experiment
        from harness.experiment import load_experiment

        out["import_s"] = time.perf_counter() - start

        if args.part != "cached":  # the provider's client, imported outside (like `openai`)
            import harness.models.openai  # noqa: F401
        home = Path(args.dir) / ("home-nocache" if args.part == "harness" else "home-cache")
        opts = RunOptions(
            home=home,
            progress=False,
            concurrency=args.concurrency,
            use_cache=args.part != "harness",
        )
        out["rss_before_mb"] = maxrss_mb()
        for label in ("", "warm_") if args.part == "cached" else ("",):
            suffix = "-warm.prof" if label else ".prof"
            profile = args.profile and args.profile.replace(".prof", suffix)
            start = time.perf_counter()
            exp = load_experiment(Path(args.dir) / "bench.yaml")
            out[f"{label}load_s"] = time.perf_counter() - start
            with Meter(profile) as m:
                outcome = run_experiment(exp, opts)
            out[f"{label}load_run_s"] = time.perf_counter() - start
            out.update({f"{label}wall_s": m.wall, f"{label}cpu_s": m.cpu})
            s = outcome.stats
            out.update(n=len(outcome.results), errors=s.errors, cached=s.cached)
        return {**out, "maxrss_mb": maxrss_mb()}
    return {**out, "wall_s": m.wall, "cpu_s": m.cpu, "maxrss_mb": maxrss_mb()}


# ---------------------------------------------------------------------------- driver


def proc_cpu(pid: int) -> float:
    """user+sys CPU seconds of another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn_part(part: str, args: argparse.Namespace, server: int, url: str, folder: Path) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--url", url, "--dir", str(folder)]
    cmd += ["--cases", str(args.cases), "--concurrency", str(args.concurrency)]
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        cmd += ["--profile", str(Path(args.profile) / f"{part}.prof")]
    server_cpu = proc_cpu(server)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    server_cpu = proc_cpu(server) - server_cpu
    if proc.returncode != 0:
        sys.exit(f"part {part} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    n = PROMPTS * args.cases
    if result["n"] != n or result["errors"]:
        sys.exit(f"part {part}: {result['n']} results, {result['errors']} errors (want {n})")
    return {**result, "server_cpu_s": server_cpu}


def summarize(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    n = PROMPTS * args.cases
    ideal = n * args.latency / args.concurrency
    med = {p: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for p, rs in runs.items()}
    ref = med["openai"]["wall_s"] if "openai" in med else None
    print(
        f"\n{n:,} requests = {PROMPTS} prompts x {args.cases:,} cases, concurrency "
        f"{args.concurrency}, server latency {args.latency * 1000:.0f} ms -> ideal "
        f"{ideal:.2f} s. Median of {args.rounds} round(s); each part in its own process.\n"
    )
    head = ("part", "wall s", "x ideal", "x openai", "CPU ms/req", "srv ms/req", "peak MB")
    print(f"{head[0]:<9}" + "".join(f"{h:>11}" for h in head[1:]) + "  (MB after imports)")
    for part in (p for p in PARTS[:4] if p in med):
        m = med[part]
        cells = [
            f"{m['wall_s']:.2f}",
            f"{m['wall_s'] / ideal:.2f}",
            f"{m['wall_s'] / ref:.2f}" if ref else "-",
            f"{m['cpu_s'] / n * 1000:.2f}",
            f"{m['server_cpu_s'] / n * 1000:.2f}",
            f"{m['maxrss_mb']:.0f}",
        ]
        print(f"{part:<9}" + "".join(f"{c:>11}" for c in cells) + f"  ({m['rss_before_mb']:.0f})")
    if "harness" in med:
        h = med["harness"]
        print(
            f"harness load_experiment {h['load_s']:.3f} s; load+run {h['load_run_s']:.2f} s "
            f"= {h['load_run_s'] / ideal:.2f}x ideal"
        )
    if "cached" in med:
        c = med["cached"]
        print(
            f"\ncached re-run ({c['cached']:.0f}/{n} from the cache), peak {c['maxrss_mb']:.0f} MB:"
        )
        for label, key in (("fresh process", ""), ("same process again", "warm_")):
            run, load_run = c[f"{key}wall_s"], c[f"{key}load_run_s"]
            print(
                f"  {label:<19} run_experiment {run:6.3f} s = {n / run:>7,.0f} results/s | "
                f"load+run {load_run:6.3f} s = {n / load_run:>7,.0f}/s | "
                f"CPU {c[f'{key}cpu_s'] / n * 1e6:.0f} us/result"
            )
        total = c["import_s"] + c["load_run_s"]
        print(
            f"  fresh process, with `import harness._run.pipeline` ({c['import_s']:.3f} s): "
            f"{total:.3f} s = {n / total:,.0f} results/s (interpreter start-up not included)"
        )
    print("\nanchors (measured elsewhere on this workload):")
    print(f"  {'':<24}{'x ideal':>10}{'CPU ms/req':>12}{'peak MB':>9}{'cached/s':>10}")
    for name, x, cpu, mb, cps in ANCHORS:
        print(f"  {name:<24}{x:>10}{cpu:>12}{mb:>9}{cps:>10}")
    goals: dict[str, bool] = {}
    a, h, c = med.get("aiohttp"), med.get("harness"), med.get("cached")
    if a:
        goals["server keeps up (bare aiohttp <= 1.15x ideal)"] = a["wall_s"] <= 1.15 * ideal
    if h:
        goals["harness <= 1.25x ideal"] = h["wall_s"] <= 1.25 * ideal
        if ref:
            goals["harness <= 1.1x bare openai"] = h["wall_s"] <= 1.1 * ref
        goals["harness <= 2 ms CPU/request"] = h["cpu_s"] / n <= 0.002
        goals["harness peak < 150 MB"] = h["maxrss_mb"] < 150
    if c:
        goals[">= 10,000 cached/s (fresh process, load+run)"] = n / c["load_run_s"] >= 1e4
        goals[">= 10,000 cached/s (same process, run only)"] = n / c["warm_wall_s"] >= 1e4
    print("\ngoals:")
    for label, ok in goals.items():
        print(f"  [{'ok' if ok else 'MISS'}] {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per answer")
    parser.add_argument("--quick", action="store_true", help="500 cases: a smoke run")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every part; report medians")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset")
    parser.add_argument("--profile", help="folder for cProfile dumps of each measured section")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        print(json.dumps(run_part(args)))
        return
    if args.quick:
        args.cases = 500
    wanted = set(args.parts.split(","))
    if not wanted <= set(PARTS):
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    if "cached" in wanted:
        wanted.add("fill")  # fills the cache the cached part reads
    parts = [p for p in PARTS if p in wanted]

    server_cmd = [sys.executable, "-m", "tests.openai_server", "--latency", str(args.latency)]
    server = subprocess.Popen(
        [*server_cmd, "--port", "0"], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        url = server.stdout.readline().strip() if server.stdout else ""
        if not url.startswith("http"):
            sys.exit(f"the server did not start (got {url!r})")
        print(f"server {url} (pid {server.pid}); parts: {', '.join(parts)}", flush=True)
        runs: dict[str, list[dict]] = {p: [] for p in parts}
        with tempfile.TemporaryDirectory(prefix="runner-overhead-") as tmp:
            write_experiment(Path(tmp), args.cases, url)
            for rnd in range(args.rounds):
                for part in parts:
                    if part in ("harness", "fill"):  # fresh homes; fill starts the cache
                        home = "home-nocache" if part == "harness" else "home-cache"
                        shutil.rmtree(Path(tmp) / home, ignore_errors=True)
                    r = spawn_part(part, args, server.pid, url, Path(tmp))
                    runs[part].append(r)
                    print(
                        f"  round {rnd + 1} {part:<8} wall {r['wall_s']:7.3f} s  cpu "
                        f"{r['cpu_s']:7.3f} s  server cpu {r['server_cpu_s']:6.2f} s  "
                        f"peak {r['maxrss_mb']:4.0f} MB",
                        flush=True,
                    )
        summarize(runs, args)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
