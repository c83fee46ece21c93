"""``bench.py --against REV``: time another commit and this checkout back to back, and compare their verdicts.

REV is checked out with ``git worktree add --detach`` in a temporary folder (removed afterwards), and
each tree runs ``nox -s matrix -- --fresh`` on the same selection, with its own noxfile and harness,
its own work dir and reports, and one shared ``--envdir`` (by default this checkout's ``.nox``), so
neither run pays for making environments the other made. Both read this checkout's matrix.yaml (it is
copied over REV's), so they plan the same cells and judge them by the same expected_failures entries:
what is compared is the harness, not the entries. Then it prints both runs side by side and compares
their results.json cell for cell, every field apart from ``seconds``.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from tabulate import tabulate

MATRIX_FILE = "matrix.yaml"
IGNORED = ("seconds",)  # what may differ between two runs of the same cells
# What a user acts on: a change in any of these is a changed verdict. Every other field (max_abs, an
# error message's wording, a level's figures) is counted and shown, but a figure that moved without
# moving its verdict (float32 noise from training the fixtures eagerly) does not fail the comparison.
VERDICT_FIELDS = ("verdict", "original_verdict", "expected_failure")


class AgainstError(Exception):
    """REV cannot be checked out (the message is git's)."""


@contextlib.contextmanager
def worktree(repo: Path, rev: str):
    """A detached git worktree of ``rev`` of ``repo`` in a temporary folder, removed on exit.

    Raises:
        AgainstError: git does not know ``rev`` (or ``repo`` is no git checkout).
    """
    folder = Path(tempfile.mkdtemp(prefix="kcm-against-")) / "tree"
    try:
        added = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(folder), rev],
                               capture_output=True, text=True)
        if added.returncode:
            raise AgainstError(f"--against {rev}: {added.stderr.strip() or 'git worktree add failed'}")
        try:
            yield folder
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(folder)],
                           capture_output=True)
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


def commit_of(tree: Path) -> str:
    """``<short hash> <subject>`` of a tree's HEAD, with ``+ changes`` where it has uncommitted changes."""
    line = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (line[:60] + (" + changes" if dirty else "")) or str(tree)


def _verdicts(cell: dict) -> dict:
    """A results.json cell's verdicts: its own, its expected-failure status, and each level's."""
    found = {key: cell.get(key) for key in VERDICT_FIELDS}
    for level, result in sorted((cell.get("levels") or {}).items()):
        found[f"levels.{level}"] = (result or {}).get("verdict")
    return found


def compare_cells(before: list[dict], after: list[dict]) -> tuple[list[str], Counter]:
    """Compare two runs' results.json ``cells`` cell for cell (by ``id``), apart from :data:`IGNORED`.

    Returns (lines, fields): a line per verdict that differs (the cell's, its expected-failure
    status, or a level's) or per cell only one run has; and how many cells differ in each other
    field (``max_abs``, ``error_message``, ``levels``' figures, ...). Lines empty: the same verdicts.
    """
    old, new = {c["id"]: c for c in before}, {c["id"]: c for c in after}
    lines = [f"only in the first run: {i}" for i in old if i not in new]
    lines += [f"only in the second run: {i}" for i in new if i not in old]
    fields: Counter = Counter()
    for i in old.keys() & new.keys():
        a, b = old[i], new[i]
        va, vb = _verdicts(a), _verdicts(b)
        lines += [f"{i}: {key} {va.get(key)} -> {vb.get(key)}" if key != "verdict" else
                  f"{i}: {va.get(key)} -> {vb.get(key)}"
                  for key in sorted(va.keys() | vb.keys()) if va.get(key) != vb.get(key)]
        for key in (a.keys() | b.keys()) - set(IGNORED) - set(VERDICT_FIELDS):
            if a.get(key) != b.get(key):
                fields[key] += 1
    return sorted(lines), fields


def run_against(rev: str, repo: Path, envdir: Path, scratch: Path, selection: list[str], jobs: int,
                harness_run, this_extra: list[str]) -> int:
    """Time REV and this checkout (``repo``) back to back with ``harness_run`` (bench.py's), print
    both and the comparison; returns 0 when every verdict agrees (figures may move), 1 otherwise.

    ``this_extra``: harness options for this checkout's run alone (REV may not know them).
    """
    runs = {}
    with worktree(repo, rev) as tree:
        shutil.copyfile(repo / MATRIX_FILE, tree / MATRIX_FILE)  # the same cells, judged by the same entries
        for label, root, extra in ((rev, tree, []), ("this checkout", repo, this_extra)):
            runs[label] = harness_run(scratch / ("before" if root == tree else "after"), selection, jobs,
                                      "--fresh", *extra, root=root, envdir=envdir)
            runs[label]["commit"] = commit_of(root)
    (first, a), (second, b) = runs.items()
    rows = [["commit", a["commit"], b["commit"]],
            ["exit status", a["exit"], b["exit"]],
            ["wall s", f"{a['wall_s']:.1f}", f"{b['wall_s']:.1f}"],
            ["cells", a["cells"], b["cells"]],
            ["cells/s", f"{a['cells'] / a['wall_s']:.2f}", f"{b['cells'] / b['wall_s']:.2f}"],
            ["worker processes", a["workers"], b["workers"]],
            *([f"{phase} s", f"{a['phase_s'][phase]:.1f}", f"{b['phase_s'][phase]:.1f}"]
              for phase in ("produce", "consume", "matrix")),
            ["workers' own s", f"{a['worker_s']:.1f}", f"{b['worker_s']:.1f}"]]
    print(f"selection: {' '.join(selection)}; nox -j {jobs}; --envdir {envdir}; "
          f"both runs read this checkout's {MATRIX_FILE}")
    print(tabulate(rows, headers=["", first, second], tablefmt="github"))
    print(f"wall time: {b['wall_s'] / a['wall_s']:.2f} x {first}'s" if a["wall_s"] else "")
    # Each run's work dir appears in its error messages; the same message names the other folder.
    lines, fields = compare_cells(*(json.loads((scratch / name / "reports" / "results.json").read_text()
                                               .replace(json.dumps(str(scratch / name))[1:-1], "<run>"))["cells"]
                                    for name in ("before", "after")))
    if not lines:
        print(f"verdicts: all {b['cells']} cells agree in verdict, expected-failure status and every level")
    else:
        print(f"verdicts: {len(lines)} differ:")
        for line in lines[:20]:
            print(f"  {line}")
        if len(lines) > 20:
            print(f"  and {len(lines) - 20} more")
    if fields:
        print("cells differing in other fields (figures, not verdicts): "
              + ", ".join(f"{k} {n}" for k, n in fields.most_common()))
    else:
        print(f"every other field agrees too, apart from {', '.join(IGNORED)}")
    return 1 if lines else 0
