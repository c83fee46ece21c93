"""``python3 benchmarks/scanners.py``: the canary corpus through modelscan and modelaudit, beside scan and real loads.

Builds the canary corpus (:mod:`harness.check.security.canaries`) under ``--workdir``, installs each tool into
a throwaway uv venv there (``--modelscan``/``--modelaudit``: the requirement, default the releases measured
in docs/security.md; an existing venv is reused), runs each once over the whole corpus with its JSON report,
and prints a Markdown table: per canary and loader, what the real loads did at each release (the records of
``nox -s scan_proof``, tests/data/security-proof/records.json), scan's verdict per release, each tool's
findings for the canary's file, and at how many releases each was right. The tools are version-blind: one
that flags a file is right where the load ran code or followed a path, wrong where the release refused it;
one that says nothing is the reverse. A tool's issue counts as flagging at modelscan's any severity and at
modelaudit's ``warning`` or ``critical`` (its ``info`` is a note). Nothing here is a harness dependency:
the tools live in their venvs only. A tool's own error (a file it cannot read) is shown, not counted as a flag.
"""
from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.check.security import proof  # noqa: E402
from harness.check.security.advisories import load_advisories  # noqa: E402
from harness.check.security.canaries import build  # noqa: E402
from harness.check.security.findings import scan_file  # noqa: E402

RECORDS = ROOT / "tests" / "data" / "security-proof" / "records.json"
UNSAFE = ("marker", "sentinel")  # the load ran the payload, or read the sentinel through the path
TOOLS = {"modelscan": "modelscan[tensorflow]==0.8.8", "modelaudit": "modelaudit[h5]==0.2.54"}


def venv(home: Path, name: str, requirement: str) -> Path:
    """A uv venv ``home/name`` with ``requirement`` (made once); its ``bin`` folder."""
    path = home / name
    if not (path / "bin" / name).exists():
        subprocess.run(["uv", "venv", "-q", "-p", "3.11", str(path)], check=True)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(path / "bin" / "python"), requirement],
                       check=True)
    return path / "bin"


def version(bin_dir: Path, package: str) -> str:
    done = subprocess.run([str(bin_dir / "python"), "-c", "import importlib.metadata as m, sys; "
                           "print(' '.join(f'{p} {m.version(p)}' for p in sys.argv[1:]))", package, "h5py"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def run_modelscan(bin_dir: Path, corpus: Path, out: Path) -> dict[str, list[str]]:
    """``modelscan scan -p CORPUS -r json``: per file relative to the corpus, its issues and errors as text."""
    subprocess.run([str(bin_dir / "modelscan"), "scan", "-p", str(corpus), "-r", "json", "-o", str(out)],
                   capture_output=True, text=True, timeout=1800)
    report = json.loads(out.read_text())
    found: dict[str, list[str]] = {}
    for issue in report.get("issues", []):
        found.setdefault(issue["source"].split(":")[0], []).append(f"{issue['severity']}: {issue['description']}")
    for error in report.get("errors", []):
        found.setdefault(error.get("source", "?").split(":")[0], []).append(f"error: {error['description']}")
    return found


def run_modelaudit(bin_dir: Path, corpus: Path, out: Path) -> dict[str, list[str]]:
    """``modelaudit scan --format json CORPUS``: per file relative to the corpus, its warning and critical
    issues as text (info issues are left out: they are notes, not flags)."""
    subprocess.run([str(bin_dir / "modelaudit"), "scan", "--format", "json", "--no-cache", "-o", str(out),
                    str(corpus)], capture_output=True, text=True, timeout=1800)
    found: dict[str, list[str]] = {}
    for issue in json.loads(out.read_text()).get("issues", []):
        if issue["severity"] in ("warning", "critical") and issue.get("location", "").startswith(f"{corpus}/"):
            where = issue["location"][len(str(corpus)) + 1:].split(":")[0].split(" ")[0]
            found.setdefault(where, []).append(f"{issue['severity']}: {issue['message']}")
    return found


def spans(releases: list[str], values: list[str]) -> str:
    """``a: 3.8.0; b: 3.9.0–3.15.1``: the releases grouped into runs of one value (sorted releases)."""
    out: list[list] = []
    for release, value in zip(releases, values, strict=True):
        if out and out[-1][0] == value:
            out[-1][2] = release
        else:
            out.append([value, release, release])
    return "; ".join(f"{v}: {a}" if a == b else f"{v}: {a}–{b}" for v, a, b in out)


def flags(issues: list[str]) -> bool:
    """Whether the tool flagged the file (an error of its own, e.g. a format it cannot read, is no flag)."""
    return any(not i.startswith("error: ") for i in issues)


def said(issues: list[str]) -> str:
    text = " / ".join(dict.fromkeys(i[:70] for i in issues[:2]))
    return text if not flags(issues) and issues else f"flags: {text}" if issues else "silent"


def table(records: list[dict], tools: dict[str, dict[str, list[str]]], files: dict[str, str]) -> str:
    """The side-by-side table (Markdown) from the compared records and each tool's issues per file."""
    rows = []
    by_cell: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        by_cell.setdefault((record["canary"], record["loader"]), []).append(record)
    for (canary, loader), cell in by_cell.items():
        cell.sort(key=lambda r: proof.release_key(r["release"]))
        releases = [r["release"] for r in cell]
        unsafe = [r["outcome"] in UNSAFE for r in cell]
        row = [canary, loader, spans(releases, ["unsafe" if r["outcome"] in UNSAFE else r["outcome"] for r in cell]),
               spans(releases, [r["scan"] for r in cell]), f"{sum(r['agrees'] for r in cell)}/{len(cell)}"]
        for issues in tools.values():
            mine = issues.get(files[canary], [])
            row += [said(mine), f"{sum(flags(mine) == u for u in unsafe)}/{len(cell)}"]
        rows.append(row)
    headers = ["canary", "loader", "real loads", "scan", "scan right"]
    for name in tools:
        headers += [name, f"{name} right"]
    return tabulate(rows, headers=headers, tablefmt="github")


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 benchmarks/scanners.py", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "scanners")
    parser.add_argument("--records", type=Path, default=RECORDS)
    for name, requirement in TOOLS.items():
        parser.add_argument(f"--{name}", default=requirement, help=f"requirement to install (default {requirement})")
    options = parser.parse_args(args)
    corpus = options.workdir / "corpus"
    canaries = build(corpus)
    files = {c.name: f"{c.name}/{c.file}" for c in canaries}
    scans = {c.name: scan_file(corpus / files[c.name]) for c in canaries}
    records = proof.compare(json.loads(options.records.read_text()), scans, load_advisories())
    found, versions = {}, []
    for name, run in (("modelscan", run_modelscan), ("modelaudit", run_modelaudit)):
        bin_dir = venv(options.workdir / "venvs", name, getattr(options, name))
        versions.append(version(bin_dir, name))
        found[name] = run(bin_dir, corpus.resolve(), options.workdir / f"{name}.json")
    print(f"Run of {datetime.date.today()} ({'; '.join(versions)}; Python 3.11), real loads from "
          f"{options.records.name}:\n")
    print(table(records, found, files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
