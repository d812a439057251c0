"""Child process for the hostile corpus: runs many cases through the CLI in one process.

Reads one JSON object per line on stdin ({"case", "exp", "home"}), runs
``harness validate EXP`` and ``harness run EXP --dry-run --home HOME`` in-process through
``harness._cli.main.main`` and writes one JSON line per case to stdout. The address space
is capped (``RLIMIT_AS``) and each command gets a hard time cap: past it, faulthandler dumps
the stack to stderr and the process exits, so the parent can name the case that killed it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import io
import json
import os
import sys
import time
import traceback
from typing import Any

MEMORY_LIMIT = int(os.environ.get("HOSTILE_MEMORY_LIMIT", 2_500_000_000))  # bytes, whole process
TIME_CAP = float(os.environ.get("HOSTILE_TIME_CAP", 10))  # seconds per command
KEEP = 20_000  # characters of output kept per stream
PREFIX = "@@hostile-result "  # marks result lines among anything else written to fd 1


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the peak-RSS counter (Linux); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_kb() -> int:
    import resource

    peak = _status_kb("VmHWM")
    if peak is not None:
        return peak
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage // 1024 if sys.platform == "darwin" else usage


def run_command(argv: list[str]) -> dict[str, Any]:
    from harness._cli.main import main

    before = _status_kb("VmRSS") if _reset_peak() else None
    before = before if before is not None else _peak_kb()
    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    started = time.perf_counter()
    faulthandler.dump_traceback_later(TIME_CAP, exit=True)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code
    except BaseException:  # noqa: BLE001 - anything escaping main() is the finding
        code = "crash"
        err.write(traceback.format_exc())
    finally:
        faulthandler.cancel_dump_traceback_later()
    seconds = time.perf_counter() - started
    peak = _peak_kb()
    if peak - before > 100_000:  # give a big case's garbage back before the next one
        gc.collect()
    return {
        "code": 0 if code is None else code if isinstance(code, (int, str)) else repr(code),
        "out": out.getvalue()[:KEEP],
        "err": err.getvalue()[:KEEP],
        "seconds": round(seconds, 3),
        "memory_mb": round(max(0, peak - before) / 1024, 1),
    }


def main() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform dependent
        pass
    # Import once, before the first case is timed and measured.
    import harness._cli.commands  # noqa: F401
    import harness._run.pipeline  # noqa: F401

    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        result = {
            "case": job["case"],
            "validate": run_command(["validate", job["exp"]]),
            "run": run_command(["run", job["exp"], "--dry-run", "--home", job["home"]]),
        }
        sys.stdout.write(PREFIX + json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
