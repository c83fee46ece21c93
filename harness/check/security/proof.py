"""``nox -s scan_proof``: load every canary for real at boundary releases and hold scan's verdicts to it.

The corpus (:mod:`.canaries`) is built in ``work/scan-proof/corpus``; each release gets a uv venv with
``keras==X`` and ``jax[cpu]`` (the lightest backend: no canary here needs TensorFlow or torch) under
the Python that marshalled the Lambdas; each (canary, loader) is loaded in its own process by
``harness/worker/canary.py`` with safe_mode as a user has it. An outcome maps to the verdict it proves
(:data:`PROVES`); scan's verdict for the same file, target and loader stands beside it, and any
disagreement fails the session. The records go to ``work/scan-proof/records.json`` (``--record DIR``
copies them to the repository's tests/data/security-proof/, which a unit test replays).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.version import Version
from tabulate import tabulate

from harness.check.security.advisories import BLOCKED, FOLLOWS, NEEDS, RUNS, Target, load_advisories, verdict
from harness.check.security.canaries import build
from harness.check.security.findings import scan_file
from harness.cli import SessionParser

ROOT = Path(__file__).resolve().parents[3]
WORKER = ROOT / "harness" / "worker" / "canary.py"
RELEASES = ("3.8.0", "3.9.0", "3.11.2", "3.11.3", "3.12.1", "3.12.2", "3.12.3", "3.13.1", "3.13.2", "3.14.0",
            "3.14.1", "3.15.1")
PROVES = {"marker": RUNS, "sentinel": FOLLOWS, "refused": BLOCKED, "needs custom_objects": NEEDS,
          "loaded": "nothing found"}


def venv(home: Path, keras: str, log) -> Path:
    """A uv venv with keras==``keras`` and jax[cpu], made once (reused while it imports)."""
    path = home / f"keras{keras}"
    python = path / "bin" / "python"
    if not python.exists():
        log(f"making {path.name}")
        subprocess.run(["uv", "venv", "-q", "-p", f"{sys.version_info.major}.{sys.version_info.minor}", str(path)],
                       check=True)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), f"keras=={keras}", "jax[cpu]"],
                       check=True)
    return python


def load(python: Path, corpus: Path, canary, loader: str, timeout: int = 300) -> dict:
    home = corpus / canary.name
    for marker in (home / "markers").glob("*"):
        marker.unlink()
    task = {"canary": canary.name, "file": str(home / canary.file), "loader": loader,
            "marker": f"markers/{canary.name}", "sentinel": canary.sentinel, "module_dir": str(home / "modules"),
            "retry_custom_objects": canary.retry_custom_objects}
    task_file = home / f"task-{loader}.json"
    task_file.write_text(json.dumps(task))
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONDONTWRITEBYTECODE="1")
    try:
        done = subprocess.run([str(python), str(WORKER), str(task_file)], cwd=home, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"canary": canary.name, "loader": loader, "outcome": "timeout", "error": f"over {timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"canary": canary.name, "loader": loader, "outcome": "crash",
                "error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


def scan_verdict(record: dict, corpus_scans: dict, advisories) -> str:
    target = Target(f"keras=={record['release']}", "keras3", Version(record["release"]))
    return verdict(corpus_scans[record["canary"]], target, advisories, record["loader"]).verdict


def compare(records: list[dict], scans: dict, advisories) -> list[dict]:
    """Each record with scan's verdict and whether they agree."""
    for record in records:
        record["scan"] = scan_verdict(record, scans, advisories)
        record["proves"] = PROVES.get(record["outcome"], record["outcome"])
        record["agrees"] = record["proves"] == record["scan"]
    return records


def table(records: list[dict]) -> str:
    releases = sorted({r["release"] for r in records}, key=Version)
    rows = {}
    for r in records:
        mark = r["outcome"] if r["agrees"] else f"**{r['outcome']}** ≠ scan: {r['scan']}"
        rows.setdefault((r["canary"], r["loader"]), {})[r["release"]] = mark
    return tabulate([[c, loader, *(cells.get(v, "") for v in releases)] for (c, loader), cells in rows.items()],
                    headers=["canary", "loader", *releases], tablefmt="github")


def _cause(record: dict) -> str | None:
    """The innermost line of the load's traceback (Keras wraps a layer's error in the model's)."""
    lines = [line for line in record.get("traceback_tail") or [] if line.strip()]
    return lines[-1][:300] if lines else None


def main(args: list[str], log=print) -> int:
    parser = SessionParser(prog="nox -s scan_proof --", description=__doc__.splitlines()[0])
    parser.add_argument("--releases", nargs="+", default=list(RELEASES), metavar="KERAS")
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "scan-proof")
    parser.add_argument("--record", type=Path, help="also write the records here (tests/data/security-proof)")
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args(args)
    corpus = options.workdir / "corpus"
    canaries = build(corpus)
    scans = {c.name: scan_file(corpus / c.name / c.file) for c in canaries}
    advisories = load_advisories()
    pythons = {v: venv(options.workdir / "venvs", v, log) for v in options.releases}
    jobs = [(v, c, loader) for v in options.releases for c in canaries for loader in c.loaders]
    by_canary = {}
    for v, c, loader in jobs:
        by_canary.setdefault(c.name, []).append((v, c, loader))

    def run_canary(items):  # one canary's loads in turn (they share its folder and marker)
        return [dict(load(pythons[v], corpus, c, loader), release=v) for v, c, loader in items]

    with ThreadPoolExecutor(options.jobs) as pool:
        records = [r for batch in pool.map(run_canary, by_canary.values()) for r in batch]
    records = compare(records, scans, advisories)
    kept = [{k: r.get(k) for k in ("canary", "loader", "release", "keras", "backend", "outcome", "error")}
            | {"cause": _cause(r), "findings": sorted(scans[r["canary"]].kinds)} for r in records]
    (options.workdir / "records.json").write_text(json.dumps(kept, indent=1))
    if options.record:
        options.record.mkdir(parents=True, exist_ok=True)
        (options.record / "records.json").write_text(json.dumps(kept, indent=1) + "\n")
    log(table(records))
    wrong = [r for r in records if not r["agrees"]]
    log(f"{len(records) - len(wrong)} of {len(records)} loads agree with scan; "
        + (f"{len(wrong)} disagree" if wrong else "none disagrees"))
    return 1 if wrong else 0
