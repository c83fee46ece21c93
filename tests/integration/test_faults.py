"""A worker that segfaults or hangs in the middle of a consume costs only its own cells;
an environment without its Python, or with an unsatisfiable pin, costs only its own cells.
"""
from pathlib import Path

import pytest

from conftest import run_matrix

MATRIX = Path(__file__).resolve().parents[1] / "data" / "faults" / "matrix.yaml"
# Its formats keep the old name weights_h5, and its golden the folder weights_h5/: both read as h5_weights.


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_matrix(tmp_path_factory.mktemp("faults"), matrix=MATRIX, succeeds=False)


def cell(run, producer, consumer, fixture, fmt, loader):
    return run["cells"][f"{producer}>{consumer}/{fixture}/{fmt}/{loader}"]


def test_a_real_sigsegv_in_a_consume_is_one_crash_cell(run):
    got = cell(run, "tf2.15", "tf2.15-faulty", "segfault", "h5_weights", "load_weights")
    assert got["verdict"] == "crash" and "SIGSEGV" in got["reason"]
    control = cell(run, "tf2.15", "tf2.15-faulty", "segfault", "negative-control", "rebuild")
    assert control["verdict"] == "crash"


def test_a_hang_is_one_timeout_cell(run):
    got = cell(run, "tf2.15", "tf2.15-faulty", "hang", "h5_weights", "load_weights")
    assert got["verdict"] == "timeout" and "20 s timeout" in got["reason"]


def test_the_other_cells_of_the_dying_consumer_survive(run):
    for fixture in ("plain", "segfault", "hang"):  # load_model never calls the fixture's build
        assert cell(run, "tf2.15", "tf2.15-faulty", fixture, "h5", "load_model")["verdict"] == "pass"
    assert cell(run, "tf2.15", "tf2.15-faulty", "plain", "h5_weights", "load_weights")["verdict"] == "pass"
    assert cell(run, "tf2.15-faulty", "tf2.15-faulty", "plain", "h5", "load_model")["verdict"] == "pass"


def test_a_producer_that_crashed_while_saving_fails_the_run_and_skips_those_cells_with_the_reason(run):
    got = cell(run, "tf2.15-faulty", "tf2.15", "segfault", "h5", "load_model")
    assert got["verdict"] == "skipped" and "crash while saving" in got["reason"]
    got = cell(run, "tf2.15-faulty", "tf2.15", "hang", "h5", "load_model")
    assert got["verdict"] == "skipped" and "timeout while saving" in got["reason"]
    # The saves themselves are cells: a crash or timeout that no phase: produce entry explains fails the run.
    saves = {s["id"]: s for s in run["results"]["saves"]}
    assert saves["tf2.15-faulty/segfault/h5"]["verdict"] == "crash"
    assert saves["tf2.15-faulty/hang/h5"]["verdict"] == "timeout"
    assert saves["tf2.15/segfault/h5"]["verdict"] == "saved"
    assert "saves failed that no live expected_failures entry with phase: produce explains" in run["log"]


def test_missing_python_and_failed_install_are_env_errors_of_their_own_cells(run):
    cells = run["cells"].values()
    errors = [c for c in cells if c["verdict"] == "env-error"]
    assert errors and all({c["producer"], c["consumer"]} & {"no-python", "bad-pin"} for c in errors)
    got = cell(run, "tf2.15", "no-python", "plain", "h5", "load_model")
    assert "no working python3.99" in got["reason"]
    got = cell(run, "bad-pin", "tf2.15", "plain", "h5", "load_model")
    assert got["reason"].startswith("producer bad-pin: uv could not install") and "numpy==0.0.0" in got["reason"]
    healthy = [c for c in cells if {c["producer"], c["consumer"]} <= {"tf2.15", "tf2.15-faulty"}]
    assert not [c for c in healthy if c["verdict"] == "env-error"]


def test_the_run_fails_because_its_crashes_and_env_errors_are_not_expected(run):
    assert "failing cells that no live expected_failures entry explains" in run["log"]
    assert run["results"]["problems"] and not run["results"]["expected_failures"]


def test_a_corrupted_golden_artifact_is_reported_not_loaded(run):
    # tests/data/faults/fixtures/golden/tf2.15: real goldens with one byte of model.h5 flipped.
    for consumer in ("tf2.15", "tf2.15-faulty"):
        got = cell(run, "golden-tf2.15", consumer, "plain", "h5", "load_model")
        assert got["verdict"] == "load-error" and got["error_type"] == "CorruptArtifact"
        assert "model.h5 does not match the SHA-256" in got["error_message"]
        assert cell(run, "golden-tf2.15", consumer, "plain", "h5_weights", "load_weights")["verdict"] == "pass"
