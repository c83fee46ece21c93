"""Jobs run apart and merged report exactly what one local run does.

The same small matrix (TF 2.15 and Keras 3.15, fixture dense_bn) runs once as ``nox -s matrix``
and once as the nightly workflow runs it: a job per phase and environment, each in its own work
dir (``nox -s plan``, then the phase alone with ``nox --no-dependencies``; a consumer job gets every
producer's records and artifacts copied in, as it downloads them), then ``nox -s merge``.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run_matrix

from harness.report.hints import normalize

ENVS = ("tf2.15", "tf2.21-keras3.15")
# One worker per phase on both sides: a phase run alone would otherwise take every core as shards
# (--workers-per-env defaults to cores / environments running at once), and the Workers tables differ.
ARGS = ("--profile", "quick", "--envs", *ENVS, "--fixtures", "dense_bn", "--no-goldens", "--workers-per-env", "1")


def _nox(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(*procs: subprocess.Popen) -> None:
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        assert proc.returncode == 0, out[-6000:]


def _job(phase: str, env: str, workdir: Path) -> subprocess.Popen:
    """The phase of ``env`` alone in its job's work dir (planned already), as nightly-phase.yml runs it."""
    return _nox("--no-dependencies", "-s", f"{phase}(env='{env}')", "--", *ARGS, "--workdir", str(workdir))


def _run_as_jobs(jobs: Path) -> list[Path]:
    """Every phase of every environment as a job of its own, two at a time; returns their work dirs."""
    dirs = {(phase, env): jobs / f"{phase}-{env}" for phase in ("produce", "consume") for env in ENVS}
    _wait(*[_nox("-s", "plan", "--", *ARGS, "--workdir", str(d)) for d in dirs.values()])
    _wait(*[_job("produce", env, dirs["produce", env]) for env in ENVS])
    for env in ENVS:  # what the consumer job downloads: every producer's records and artifacts
        consumer = dirs["consume", env]
        for producer in ENVS:
            shutil.copy2(dirs["produce", producer] / "results" / f"produce-{producer}.jsonl", consumer / "results")
            shutil.copytree(dirs["produce", producer] / "artifacts" / producer, consumer / "artifacts" / producer)
    _wait(*[_job("consume", env, dirs["consume", env]) for env in ENVS])
    return list(dirs.values())


def _cells(results: dict, workdirs: list[Path]) -> dict:
    """Every cell keyed by id, with the work dirs' paths made alike, less what differs between any two
    runs, merged or not: its wall time (``seconds``), the tail of its traceback (``error_text``: it
    shows object ids, and paths of other lengths shift it), and in its error message what the
    report's signatures leave out too (``harness.report.hints.normalize``: e.g. the order in which TF lists
    a checkpoint's unmatched objects, which varies from process to process)."""
    text = json.dumps(results["cells"])
    for workdir in workdirs:
        text = text.replace(str(workdir), "<work>")
    cells = {c["id"]: {k: v for k, v in c.items() if k not in ("seconds", "error_text")} for c in json.loads(text)}
    for cell in cells.values():
        cell["error_message"] = normalize(cell["error_message"] or "")
    return cells


def _without_wall_time(matrix_md: str) -> str:
    """matrix.md less the run's wall time (the third line: "Profile ..., wall time 95 s.") and the
    Workers table's seconds and peak memory (its last two columns), which no two runs share."""
    lines = matrix_md.splitlines()
    assert lines[2].startswith("Profile `quick`: 2 environments") and " wall time " in lines[2]
    lines[2] = lines[2].split(", wall time ")[0]
    workers = lines.index("## Workers")
    lines[workers:] = ["|".join(line.split("|")[:-3]) if line.startswith("|") else line for line in lines[workers:]]
    return "\n".join(lines)


def _environments(results: dict) -> dict:
    """results.json's environments less each phase's seconds and peak memory (the rest: workers
    started, cells run and reused, must be the same)."""
    return {name: dict(env, phases={phase: {k: v for k, v in stats.items() if k not in ("seconds", "peak_rss_bytes")}
                                    for phase, stats in env.get("phases", {}).items()})
            for name, env in results["environments"].items()}


def test_jobs_run_apart_and_merged_report_what_one_run_does(tmp_path):
    single = run_matrix(tmp_path / "single", *ARGS)
    dirs = _run_as_jobs(tmp_path / "jobs")
    merged = tmp_path / "merged"
    proc = subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "merge", "--",
                           *map(str, dirs), "--workdir", str(merged / "work"), "--reports", str(merged / "reports")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    results = json.loads((merged / "reports" / "results.json").read_text())
    got, want = _cells(results, dirs + [merged / "work"]), _cells(single["results"], [single["work"]])
    assert sorted(got) == sorted(want) and got
    differences = [(key, field, want[key].get(field), got[key].get(field)) for key in want
                   for field in set(want[key]) | set(got[key]) if want[key].get(field) != got[key].get(field)]
    assert not differences  # (cell, field, single run's, merged jobs')
    for key in ("counts", "problems", "expected_failures"):
        assert results[key] == single["results"][key], key
    assert _environments(results) == _environments(single["results"])
    assert all(p["workers_started"] == 1 for env in results["environments"].values()
               for p in env.get("phases", {}).values())  # the jobs' stats came along
    assert _without_wall_time((merged / "reports" / "matrix.md").read_text()) == \
        _without_wall_time((single["reports"] / "matrix.md").read_text())
