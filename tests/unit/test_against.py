"""bench.py --against: another commit and this checkout timed back to back, their verdicts compared."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import against  # noqa: E402  (benchmarks/against.py)


def _cell(i, verdict="pass", **fields):
    return dict({"id": i, "verdict": verdict, "max_abs": 0.0, "seconds": 1.0}, **fields)


def test_cells_agree_apart_from_seconds_and_every_other_difference_is_told():
    before = [_cell("a"), _cell("b"), _cell("c")]
    assert against.compare_cells(before, [_cell("a", seconds=0.4), _cell("b"), _cell("c")]) == ([], {})
    lines, fields = against.compare_cells(before, [_cell("a", "mismatch", max_abs=42.5), _cell("b", max_abs=1e-7),
                                                   _cell("d")])
    assert lines == ["a: pass -> mismatch", "only in the first run: c", "only in the second run: d"]
    assert fields == {"max_abs": 2}


def test_a_level_verdict_or_an_expected_failure_that_moves_is_a_changed_verdict_a_moved_figure_is_not():
    level = {"training": {"verdict": "pass", "max_abs": 0.0}}
    before = [_cell("a", levels=level), _cell("b", levels=level), _cell("c", "xfail", expected_failure=3)]
    after = [_cell("a", levels={"training": {"verdict": "mismatch", "max_abs": 0.2}}),
             _cell("b", levels={"training": {"verdict": "pass", "max_abs": 1.5e-8}}),
             _cell("c", "xfail", expected_failure=4)]
    lines, fields = against.compare_cells(before, after)
    assert lines == ["a: levels.training pass -> mismatch", "c: expected_failure 3 -> 4"]
    assert fields == {"levels": 2}


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path):
    """A git repository whose committed tree says 'pass' and whose checkout now says 'mismatch'
    (and has another matrix.yaml)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "verdict.txt").write_text("pass")
    (repo / "matrix.yaml").write_text("entries: old\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    (repo / "verdict.txt").write_text("mismatch")
    (repo / "matrix.yaml").write_text("entries: new\n")
    return repo


def test_against_runs_the_other_commit_with_this_matrix_yaml_and_finds_the_changed_verdict(repo, tmp_path, capsys):
    calls = []

    def stand_in(scratch, selection, jobs, *extra, root, envdir):
        """bench.harness_run's stand-in: a 'run' whose one cell's verdict is the tree's verdict.txt."""
        calls.append((root, extra, (root / "matrix.yaml").read_text()))
        (scratch / "reports").mkdir(parents=True)
        verdict = (root / "verdict.txt").read_text()
        message = f"cannot load {scratch}/work/artifacts/x"  # each run's own work dir, in the same message
        (scratch / "reports" / "results.json").write_text(json.dumps({"cells": [_cell("x", verdict,
                                                                                 error_message=message)]}))
        return {"wall_s": 10.0 if root != repo else 4.0, "exit": 0, "cells": 1, "workers": 2, "worker_s": 3.0,
                "phase_s": {"produce": 1.0, "consume": 2.0, "matrix": 0.5}}

    status = against.run_against("HEAD", repo, tmp_path / "envs", tmp_path / "scratch", ["--profile", "quick"], 2,
                                 stand_in, ["--workers-per-env", "2"])
    out = capsys.readouterr().out
    assert status == 1
    assert "x: pass -> mismatch" in out and "wall time: 0.40 x HEAD's" in out
    assert "every other field agrees too" in out  # the work dirs in the messages are not a difference
    assert "first + changes" in out  # this checkout is dirty; REV is its commit alone
    (rev_root, rev_extra, rev_matrix), (this_root, this_extra, this_matrix) = calls
    assert rev_matrix == this_matrix == "entries: new\n"  # both judged by this checkout's entries
    assert rev_root != repo and not rev_root.exists()  # REV's worktree is gone afterwards
    assert (rev_extra, this_root, this_extra) == (("--fresh",), repo, ("--fresh", "--workers-per-env", "2"))
    assert "kcm-against" not in subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True,
                                               text=True).stdout


def test_an_unknown_revision_is_one_message(repo, tmp_path):
    with pytest.raises(against.AgainstError, match="--against nosuch: fatal: invalid reference: nosuch"):
        against.run_against("nosuch", repo, tmp_path, tmp_path / "s", [], 1, None, [])
