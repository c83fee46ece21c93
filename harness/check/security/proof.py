"""``nox -s scan_proof``: load every canary for real at boundary releases and hold scan's verdicts to it.

The corpus (:mod:`.canaries`) is built in ``work/scan-proof/corpus``; each release gets a uv venv
(:func:`requirements`: a Keras 3 release ``keras==X`` with ``jax[cpu]``, the lightest backend, and
:data:`TENSORFLOW` for the canaries whose lookup layers need it; ``2.15.0`` Keras 2 with its TensorFlow;
``tf_keras-2.21.0`` tf-keras with its TensorFlow) under the Python that marshalled the Lambdas; each
(canary, loader) is loaded in its own process by ``harness/worker/canary.py`` with safe_mode as a user
has it. An outcome maps to the verdict it proves (:data:`PROVES`); scan's verdict for the same file,
target and loader stands beside it, and any disagreement fails the session. The records go to
``work/scan-proof/records.json`` (``--record DIR`` merges them into the repository's
tests/data/security-proof/records.json, which a unit test replays; ``--canaries`` loads only some).
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
from harness.guard import loads, read_text

ROOT = Path(__file__).resolve().parents[3]
WORKER = ROOT / "harness" / "worker" / "canary.py"
RELEASES = ("3.8.0", "3.9.0", "3.11.2", "3.11.3", "3.12.1", "3.12.2", "3.12.3", "3.13.1", "3.13.2", "3.14.0",
            "3.14.1", "3.15.1")
# Keras 3's lookup layers need TensorFlow whatever the backend; 2.20 declares keras>=3.10.0 and leaves the
# pinned Keras in place.
TENSORFLOW = "tensorflow-cpu==2.20.0"
TF_KERAS = "tf_keras-"  # a release of the proof that is tf-keras's: tf_keras-2.21.0
MAX_ERROR = 4096  # characters of an error kept in a record (the whole message, bounded)
PROVES = {"marker": RUNS, "sentinel": FOLLOWS, "refused": BLOCKED, "needs custom_objects": NEEDS,
          "loaded": "nothing found"}


def target(release: str) -> Target:
    """The target a release of the proof names: ``3.8.0`` (Keras 3), ``2.15.0`` (Keras 2, with its
    TensorFlow), ``tf_keras-2.21.0`` (tf-keras, with its TensorFlow)."""
    if release.startswith(TF_KERAS):
        version = Version(release[len(TF_KERAS):])
        return Target(f"tf-keras=={version}", "tf_keras", version)
    version = Version(release)
    return Target(f"keras=={version}", "keras3" if version.major >= 3 else "keras2", version)


def release_key(release: str) -> tuple:
    """Keras 2, then tf_keras, then Keras 3, each by version."""
    found = target(release)
    return ("keras2", "tf_keras", "keras3").index(found.flavor), found.keras


def requirements(release: str, tensorflow: bool) -> list[str]:
    """What a release's venv installs: Keras 3 with jax[cpu] (and :data:`TENSORFLOW` for a canary that needs
    it); Keras 2 with the TensorFlow of its minor release (numpy<2: TF 2.15 is built against numpy 1);
    tf-keras with the TensorFlow of its release."""
    found = target(release)
    minor = f"{found.keras.major}.{found.keras.minor}.0"
    if found.flavor == "tf_keras":
        return [f"tf-keras=={found.keras}", f"tensorflow-cpu~={minor}"]
    if found.flavor == "keras2":
        return [f"keras=={found.keras}", f"tensorflow-cpu~={minor}", "numpy<2"]
    return [f"keras=={release}", "jax[cpu]", *([TENSORFLOW] if tensorflow else [])]


def venv(home: Path, release: str, log, tensorflow: bool = False) -> Path:
    """A uv venv with :func:`requirements`, made once (reused while it imports)."""
    path = home / (f"keras{release}-tf" if tensorflow and target(release).flavor == "keras3" else f"keras{release}")
    python = path / "bin" / "python"
    if not python.exists():
        log(f"making {path.name}")
        subprocess.run(["uv", "venv", "-q", "-p", f"{sys.version_info.major}.{sys.version_info.minor}", str(path)],
                       check=True)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(python),
                        *requirements(release, tensorflow)], check=True)
    return python


def load(python: Path, corpus: Path, canary, loader: str, timeout: int = 300, release: str = "") -> dict:
    home = corpus / canary.name
    for marker in (home / "markers").glob("*"):
        marker.unlink()
    task = {"canary": canary.name, "file": str(home / canary.file), "loader": loader,
            "marker": f"markers/{canary.name}", "sentinel": canary.sentinel, "module_dir": str(home / "modules"),
            "retry_custom_objects": canary.retry_custom_objects, "sentinel_token": canary.sentinel_token,
            "keras_module": "tf_keras" if release.startswith(TF_KERAS) else "keras"}
    task_file = home / f"task-{loader}.json"
    task_file.write_text(json.dumps(task))
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONDONTWRITEBYTECODE="1",
               TF_USE_LEGACY_KERAS="1" if release.startswith(TF_KERAS) else "0", TF_CPP_MIN_LOG_LEVEL="2")
    try:
        done = subprocess.run([str(python), str(WORKER), str(task_file)], cwd=home, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"canary": canary.name, "loader": loader, "outcome": "timeout", "error": f"over {timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"canary": canary.name, "loader": loader, "outcome": "crash",
                "error": done.stderr.strip()[-MAX_ERROR:] or "no output"}
    return json.loads(lines[-1])


def scan_verdict(record: dict, corpus_scans: dict, advisories) -> str:
    return verdict(corpus_scans[record["canary"]], target(record["release"]), advisories, record["loader"]).verdict


def compare(records: list[dict], scans: dict, advisories) -> list[dict]:
    """Each record with scan's verdict and whether they agree."""
    for record in records:
        record["scan"] = scan_verdict(record, scans, advisories)
        record["proves"] = PROVES.get(record["outcome"], record["outcome"])
        record["agrees"] = record["proves"] == record["scan"]
    return records


def table(records: list[dict]) -> str:
    releases = sorted({r["release"] for r in records}, key=release_key)
    rows = {}
    for r in records:
        mark = r["outcome"] if r["agrees"] else f"**{r['outcome']}** ≠ scan: {r['scan']}"
        rows.setdefault((r["canary"], r["loader"]), {})[r["release"]] = mark
    return tabulate([[c, loader, *(cells.get(v, "") for v in releases)] for (c, loader), cells in rows.items()],
                    headers=["canary", "loader", *releases], tablefmt="github")


def _cause(record: dict) -> str | None:
    """The innermost line of the load's traceback (Keras wraps a layer's error in the model's)."""
    lines = [line for line in record.get("traceback_tail") or [] if line.strip()]
    return lines[-1][:MAX_ERROR] if lines else None


def main(args: list[str], log=print) -> int:
    parser = SessionParser(prog="nox -s scan_proof --", description=__doc__.splitlines()[0])
    parser.add_argument("--releases", nargs="+", default=list(RELEASES), metavar="KERAS")
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "scan-proof")
    parser.add_argument("--record", type=Path, help="also write the records here (tests/data/security-proof)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--canaries", nargs="+", metavar="CANARY", help="only these canaries (default: all)")
    options = parser.parse_args(args)
    corpus = options.workdir.resolve() / "corpus"  # the loads run in the canary's folder: paths absolute
    canaries = build(corpus)
    scans = {c.name: scan_file(corpus / c.name / c.file) for c in canaries}
    advisories = load_advisories()
    parser_canaries = set(options.canaries or [c.name for c in canaries])
    canaries = [c for c in canaries if c.name in parser_canaries]
    pythons = {(v, tf): venv(options.workdir.resolve() / "venvs", v, log, tf) for v in options.releases
               for tf in {c.tensorflow for c in canaries}}
    jobs = [(v, c, loader) for v in options.releases for c in canaries for loader in c.loaders]
    by_canary = {}
    for v, c, loader in jobs:
        by_canary.setdefault(c.name, []).append((v, c, loader))

    def run_canary(items):  # one canary's loads in turn (they share its folder and marker)
        return [dict(load(pythons[v, c.tensorflow], corpus, c, loader, release=v), release=v)
                for v, c, loader in items]

    with ThreadPoolExecutor(options.jobs) as pool:
        records = [r for batch in pool.map(run_canary, by_canary.values()) for r in batch]
    records = compare(records, scans, advisories)
    fields = ("canary", "loader", "release", "keras", "backend", "outcome", "error", "retry_error")
    kept = [{k: r.get(k) for k in fields}
            | {"cause": _cause(r), "findings": sorted(scans[r["canary"]].kinds)} for r in records]
    (options.workdir / "records.json").write_text(json.dumps(kept, indent=1))
    if options.record:  # a record of the same canary, loader and release is replaced, the others kept
        options.record.mkdir(parents=True, exist_ok=True)
        path = options.record / "records.json"
        new = {(r["canary"], r["loader"], r["release"]) for r in kept}
        old = [r for r in (loads(read_text(path, "--record")) if path.exists() else [])
               if (r["canary"], r["loader"], r["release"]) not in new]
        path.write_text(json.dumps(old + kept, indent=1) + "\n")
    log(table(records))
    wrong = [r for r in records if not r["agrees"]]
    log(f"{len(records) - len(wrong)} of {len(records)} loads agree with scan; "
        + (f"{len(wrong)} disagree" if wrong else "none disagrees"))
    return 1 if wrong else 0
