"""Benchmark the harness on a profile, cold and warm, beside a naive run of the same cells.

    python3 benchmarks/bench.py [--profile default] [--envs ENV ...] [--fixtures F ...] [-j 2]
                                [--naive-sample 2] [--skip-naive] [--keep DIR]
    python3 benchmarks/bench.py --timings WORKDIR     where an earlier run's worker seconds went
    python3 benchmarks/bench.py --against REV [--profile quick] [--envdir DIR] [--workers-per-env N]
        REV's commit and this checkout timed back to back, and their verdicts compared (against.py)

Runs, one after another, in a scratch folder (``--keep`` keeps it):

1. **cold**: ``nox -s matrix`` with new venvs (a fresh ``--envdir``) and an empty work dir;
2. **warm, full**: the same again with ``--fresh``: venvs exist, every cell runs;
3. **warm, nothing changed**: the same again: every record is reused, no worker starts;
4. **naive**: what a harness without environments-as-sessions would cost: every environment made
   with ``python -m venv`` and ``pip install`` (timed for real), and one worker process per cell
   (the same worker, timed for real on ``--naive-sample`` cells per environment and phase, then
   multiplied out to every cell; the table says so).

Then prints one table (wall time in seconds, worker processes, cells per second, seconds per phase)
and checks the targets of issue #6: a warm rerun with nothing changed under 10 s; worker processes
equal one per environment, phase and shard plus restarts after crashes and timeouts; a warm full run
within 1.5 x the sum of its workers' own times divided by the parallelism (``-j`` x shards). Last,
where the warm full run's worker seconds went: summed per phase, format and loader, per step of a
cell (harness/worker/timing.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from against import AgainstError, run_against  # noqa: E402  (benchmarks/against.py)
from harness.execute import interpreters  # noqa: E402
from harness.execute.plan import consume_cells, produce_cells  # noqa: E402
from harness.execute.processes import Interpreter  # noqa: E402
from harness.execute.supervisor import run_phase  # noqa: E402
from harness.run import Context, thread_variables  # noqa: E402
from harness.workdir import PhaseFiles, WorkDir, read_records  # noqa: E402

RESTART_VERDICTS = ("crash", "timeout")
# The steps a worker times per cell (harness/worker/timing.py), in the order of a cell.
STEPS = ("build", "save", "verify", "load", "control", "predict", "compare", "changes", "levels")


def worker_timings(results: Path) -> tuple[list[list], float, int]:
    """Where the workers' seconds went in one run, from its results folder (every ``*.jsonl``, shards too).

    Returns (rows, import seconds, worker processes): one row per (phase, format, loader) and a last
    one of their sums (``all``), each
    ``[phase, format, loader, cells, seconds, <one column per STEPS>, other]`` (seconds summed over the
    cells; ``other`` is a cell's seconds outside its timed steps: reading the manifest and references,
    writing the record); and the seconds the workers spent importing TensorFlow/Keras, counted once
    per process. Records reused from an earlier run, and records without timings (a crash, a timeout,
    a worker older than the timings) are left out.
    """
    sums: dict[tuple, list[float]] = {}
    imports: dict[tuple, float] = {}
    for path in sorted(results.glob("*.jsonl")):
        for record in read_records(path):
            timings = record.get("timings")
            if record.get("reused") or not isinstance(timings, dict):
                continue
            key = (record.get("phase"), record.get("format"), record.get("loader") or "-")
            row = sums.setdefault(key, [0.0] * (len(STEPS) + 3))
            row[0] += 1
            row[1] += record.get("seconds") or 0.0
            for i, step in enumerate(STEPS):
                row[2 + i] += timings.get(step, 0.0)
            row[-1] += (record.get("seconds") or 0.0) - sum(timings.values())
            imports[(path.name, record.get("worker_pid"))] = record.get("worker_import_s") or 0.0
    total = [sum(column) for column in zip(*sums.values(), strict=True)] if sums else [0.0] * (len(STEPS) + 3)
    rows = [[*key, int(v[0]), *(round(x, 1) for x in v[1:])] for key, v in sorted(sums.items(), key=str)]
    rows.append(["all", "", "", int(total[0]), *(round(x, 1) for x in total[1:])])
    return rows, round(sum(imports.values()), 3), len(imports)


def print_timings(timings: tuple[list[list], float, int], label: str) -> None:
    """Print what :func:`worker_timings` returned as a table."""
    rows, import_s, workers = timings
    print(f"\nworker seconds per phase, format and loader ({label}); importing TensorFlow/Keras: "
          f"{import_s:.1f} s in {workers} worker processes")
    print(tabulate(rows, headers=["phase", "format", "loader", "cells", "seconds", *STEPS, "other"],
                   tablefmt="github"))


def harness_run(scratch: Path, selection: list[str], jobs: int, *extra: str, root: Path = ROOT,
                envdir: Path | None = None) -> dict:
    """Run ``nox -s matrix`` once, with the noxfile and harness of ``root`` (default: this checkout) and
    its venvs in ``envdir`` (default: ``scratch/nox``); returns its figures (seconds, counts) from nox's
    and the harness's reports. Its work dir and reports go in ``scratch``."""
    scratch.mkdir(parents=True, exist_ok=True)
    nox_report = scratch / "nox-report.json"
    argv = [sys.executable, "-m", "nox", "-f", str(root / "noxfile.py"), "--envdir", str(envdir or scratch / "nox"),
            "-s", "matrix", "-j", str(jobs), "--report", str(nox_report), "--",
            "--workdir", str(scratch / "work"), "--reports", str(scratch / "reports"), *selection, *extra]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True)
    wall = time.monotonic() - started
    results = json.loads((scratch / "reports" / "results.json").read_text())
    sessions = json.loads(nox_report.read_text())["sessions"]
    phases = [p for env in results["environments"].values() for p in env.get("phases", {}).values()]
    restarts = sum(1 for c in results["cells"] if c["verdict"] in RESTART_VERDICTS
                   or c.get("original_verdict") in RESTART_VERDICTS)
    # Cells as the workers see them: each produce cell and each consume cell (negative controls too).
    return {"wall_s": wall, "exit": proc.returncode, "cells": sum(p["cells_run"] + p["cells_reused"] for p in phases),
            "workers": sum(p["workers_started"] for p in phases), "restarts": restarts,
            # one worker per phase run, or per shard of it (--workers-per-env)
            "expected_workers": sum(len(p.get("shards") or {}) or 1 for p in phases if p["workers_started"]),
            "shards": max((len(p.get("shards") or {}) or 1 for p in phases), default=1),
            "worker_s": sum(sum(s["seconds"] for s in (p.get("shards") or {}).values()) or p["seconds"]
                            for p in phases),
            "peak_rss_mb": max((p["peak_rss_bytes"] or 0 for p in phases), default=0) / 2**20,
            "phase_s": {name: sum(s["duration"] for s in sessions if s["name"] == name)
                        for name in ("plan", "produce", "consume", "matrix")}}


def naive_run(scratch: Path, selection: list[str], sample: int) -> dict:
    """Time pip-made environments and one worker process per cell; see the module docstring."""
    ctx = Context.from_args(["--workdir", str(scratch / "work"), *selection])
    setup_s, cell_s, cells_total = 0.0, [], 0
    naive_work = scratch / "naive"
    produced = [r for env in ctx.selection.envs  # every producer's records: each consumer loads them all
                for r in PhaseFiles(ctx.workdir, "produce", env).records()]
    for env in ctx.selection.envs:
        spec_env = ctx.spec.envs[env]
        python = interpreters.find_python(spec_env.python) if spec_env.python else None
        if spec_env.runner != "venv" or python is None:
            continue
        venv = scratch / "pip-envs" / env
        started = time.monotonic()
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                              *spec_env.requirements(ctx.spec.extra_pins)], capture_output=True, text=True)
        if pip.returncode:
            raise SystemExit(f"naive run: pip could not install {env}:\n{pip.stderr[-3000:]}")
        setup_s += time.monotonic() - started
        for phase, cells in (("produce", produce_cells(ctx.selection, env)),
                             ("consume", consume_cells(ctx.selection, env, produced, ctx.work.artifacts))):
            cells_total += len(cells)
            files = PhaseFiles(naive_work, phase, env)
            files.reset()
            task = dict(ctx.task(phase, env), artifacts_dir=str(WorkDir(naive_work).artifacts))
            variables = dict(thread_variables(1), **spec_env.worker_variables())
            for cell in cells[:sample]:  # one process per cell, as a naive harness runs them
                started = time.monotonic()
                run_phase(files, Interpreter(str(venv / "bin" / "python")), variables, task, [cell],
                          ctx.spec.cell_timeout_s, ctx.spec.startup_timeout_s)
                cell_s.append(time.monotonic() - started)
    per_cell = statistics.mean(cell_s) if cell_s else 0.0
    return {"setup_s": setup_s, "per_cell_s": per_cell, "cells_timed": len(cell_s), "cells": cells_total,
            "wall_s": setup_s + per_cell * cells_total, "workers": cells_total}


def _row(label: str, run: dict) -> list:
    phases = run.get("phase_s", {})
    return [label, f"{run['wall_s']:.1f}", run["workers"], run["cells"],
            f"{run['cells'] / run['wall_s']:.2f}" if run["wall_s"] else "-",
            *(f"{phases[p]:.1f}" if p in phases else "-" for p in ("produce", "consume", "matrix")),
            f"{run['worker_s']:.1f}" if "worker_s" in run else "-"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--envs", nargs="+")
    parser.add_argument("--fixtures", nargs="+")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="nox -j (default 2)")
    parser.add_argument("--naive-sample", type=int, default=2, help="cells timed per environment and phase")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--keep", type=Path, help="scratch folder to use and keep (default: a temporary one)")
    parser.add_argument("--timings", type=Path, metavar="WORKDIR",
                        help="only print where the worker seconds of the run in WORKDIR went, and exit")
    parser.add_argument("--against", metavar="REV",
                        help="time the commit REV (a git revision: HEAD~1, a tag, a hash) and this checkout back "
                             "to back, each with --fresh, print both and compare their verdicts cell for cell")
    parser.add_argument("--envdir", type=Path, default=ROOT / ".nox",
                        help="with --against: the nox envdir both runs share (default: this checkout's .nox)")
    parser.add_argument("--workers-per-env", type=int, metavar="N",
                        help="the harness's --workers-per-env, for this checkout's runs")
    options = parser.parse_args(argv)
    if options.timings:
        print_timings(worker_timings(WorkDir(options.timings).results), str(options.timings))
        return 0
    selection = ["--profile", options.profile, "--no-goldens"]
    selection += ["--envs", *options.envs] if options.envs else []
    selection += ["--fixtures", *options.fixtures] if options.fixtures else []
    scratch = options.keep or Path(tempfile.mkdtemp(prefix="kcm-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    this_extra = ["--workers-per-env", str(options.workers_per_env)] if options.workers_per_env else []
    if options.against:
        try:
            status = run_against(options.against, ROOT, options.envdir.resolve(), scratch, selection, options.jobs,
                                 harness_run, this_extra)
        except AgainstError as exc:
            raise SystemExit(str(exc)) from None
        for name in ("before", "after"):
            print_timings(worker_timings(WorkDir(scratch / name / "work").results), f"{name}: {scratch / name}")
        if not options.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        return status
    shutil.rmtree(scratch / "work", ignore_errors=True)
    shutil.rmtree(scratch / "nox", ignore_errors=True)
    runs = {"harness, cold": harness_run(scratch, selection, options.jobs, *this_extra)}
    runs["harness, warm, full (--fresh)"] = harness_run(scratch, selection, options.jobs, "--fresh", *this_extra)
    timings = worker_timings(WorkDir(scratch / "work").results)  # before the next run reuses every record
    runs["harness, warm, nothing changed"] = harness_run(scratch, selection, options.jobs, *this_extra)
    envs = len(json.loads(WorkDir(scratch / "work").run.read_text())["envs"])
    rows = [_row(label, run) for label, run in runs.items()]
    if not options.skip_naive:
        naive = naive_run(scratch, selection, options.naive_sample)
        rows.append(_row(f"naive (pip envs {naive['setup_s']:.0f} s + {naive['per_cell_s']:.1f} s/cell, "
                         f"timed on {naive['cells_timed']} cells, x {naive['cells']})", naive))
    print(f"selection: {' '.join(selection)}; {envs} environments; nox -j {options.jobs}; "
          f"{os.cpu_count()} CPUs; scratch {scratch}")
    print(tabulate(rows, headers=["run", "wall s", "worker processes", "cells", "cells/s", "produce s",
                                  "consume s", "report s", "workers' own s"], tablefmt="github"))
    cold, full, warm = runs.values()
    # one environment's phases cannot overlap each other; a phase's shards run at once
    parallelism = min(options.jobs, envs) * full["shards"]
    bound = 1.5 * full["worker_s"] / parallelism
    checks = [
        (f"warm rerun with nothing changed: {warm['wall_s']:.1f} s (target < 10 s)", warm["wall_s"] < 10),
        (f"worker processes of the full run: {full['workers']} = {full['expected_workers']} (one per environment, "
         f"phase and shard) + {full['restarts']} restarts",
         full["workers"] == full["expected_workers"] + full["restarts"]),
        (f"warm full run {full['wall_s']:.1f} s within 1.5 x workers' own {full['worker_s']:.1f} s / "
         f"{parallelism} (parallelism: nox -j, at most one per environment, x shards) = {bound:.1f} s",
         full["wall_s"] <= bound),
        (f"peak worker memory {max(r['peak_rss_mb'] for r in runs.values()):.0f} MB", True),
    ]
    for text, ok in checks:
        print(("ok    " if ok else "MISSED") + "  " + text)
    print_timings(timings, "the warm full run")
    if not options.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
