"""The CI job matrix: one job per environment of the selection, split to fit a CI's per-matrix limit."""
import json
import subprocess
import sys

import pytest

from harness import run
from harness import ROOT
from harness.ci import jobs
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX


def test_split_keeps_order_and_cuts_evenly_under_the_limit():
    entries = list(range(300))
    chunks = jobs.split(entries, 256)
    assert [len(c) for c in chunks] == [150, 150]
    assert sum(chunks, []) == entries
    assert [len(c) for c in jobs.split(list(range(7)), 3)] == [3, 2, 2]
    assert jobs.split(list(range(256)), 256) == [list(range(256))]
    assert [len(c) for c in jobs.split(list(range(257)), 256)] == [129, 128]
    assert jobs.split([], 256) == []


def test_split_refuses_what_no_chunking_fits():
    with pytest.raises(jobs.TooManyJobs, match="at least 1"):
        jobs.split([1], 0)
    # 10 entries under a limit of 3 need 4 chunks, and the chunks' own matrix holds only 3.
    with pytest.raises(jobs.TooManyJobs, match="10 environments need 4 chunks of at most 3 jobs"):
        jobs.split(list(range(10)), 3)
    assert len(jobs.split(list(range(9)), 3)) == 3


def test_job_matrix_of_a_profile_names_each_environment_once_with_what_its_job_sets_up():
    loaded = spec.load(DEFAULT_MATRIX)
    envs = loaded.profiles["nightly"].envs
    matrix = jobs.job_matrix(loaded, envs, max_jobs=5)
    assert matrix["envs"] == len(envs) == 15 and matrix["max_jobs"] == 5  # 12 named, 3 from the lock
    assert [len(c["include"]) for c in matrix["chunks"]] == [5, 5, 5]
    entries = [e for chunk in matrix["chunks"] for e in chunk["include"]]
    assert [e["env"] for e in entries] == list(envs)
    by_env = {e["env"]: e for e in entries}
    assert by_env["tf2.4"] == {"env": "tf2.4", "python": "3.8", "runner": "venv", "device": "cpu"}
    # A docker environment's image brings its Python.
    assert by_env["tf2.15-docker-gpu"] == {"env": "tf2.15-docker-gpu", "python": None, "runner": "docker",
                                           "device": "gpu"}


def test_job_matrix_follows_the_selection_options():
    matrix = run.job_matrix(["--profile", "quick", "--max-jobs", "2"])
    assert [[e["env"] for e in c["include"]] for c in matrix["chunks"]] == \
        [["tf2.15", "tf2.16-tfkeras"], ["tf2.21-keras3.15"]]
    matrix = run.job_matrix(["--profile", "quick", "--envs", "tf2.21-keras3.15", "tf2.15"])
    assert [e["env"] for e in matrix["chunks"][0]["include"]] == ["tf2.21-keras3.15", "tf2.15"]
    with pytest.raises(spec.SpecError, match="--profile nope: no such profile"):
        run.job_matrix(["--profile", "nope"])


def test_nox_jobs_prints_only_the_json_on_stdout():
    proc = subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "jobs", "--",
                           "--profile", "quick"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    matrix = json.loads(proc.stdout)
    assert [e["env"] for e in matrix["chunks"][0]["include"]] == ["tf2.15", "tf2.16-tfkeras", "tf2.21-keras3.15"]
    assert len(proc.stdout.strip().splitlines()) == 1  # one line: it goes into $GITHUB_OUTPUT as it is
