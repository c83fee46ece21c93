"""The fixtures and loaders of users' reports, replayed on the records of their real runs
(tests/data/run-users-*): verdict counts, the silent loads the count of assigned variables exposes, and
a weights load planted to assign 0 variables, which fails the run."""

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from test_expectation_keys import SHIPPED, _context, _copy, _data


from harness.report.results import damaged
from harness.worker.catalog import current_names

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness" / "worker"))
import formats  # noqa: E402  (harness/worker/formats.py: the worker's verdict of a count)

QUICK = "run-users-quick"
WEIGHTS_LOADERS = ("load_weights", "load_weights_by_name", "load_weights_skip_mismatch", "model_from_json",
                   "Checkpoint.read")
# Keras 3.15's .weights.h5 of the nested subclassed tree, read with skip_mismatch=True by Keras 2.15 and
# tf_keras 2.16: nothing raised, 0 of 26 variables assigned.
SKIPPED_ALL = {f"tf2.21-keras3.15>{consumer}/nested_subclassed/keras_weights/load_weights_skip_mismatch"
               for consumer in ("tf2.15", "tf2.16-tfkeras")}
# Keras 3.15's checkpoint of a layer keeping its sublayers in a list and a dict, read by Keras 3.15.
CHECKPOINT_6_OF_14 = "tf2.21-keras3.15>tf2.21-keras3.15/layer_containers/checkpoint/Checkpoint.read"


def _entry(**match):
    (found,) = [e for e in SHIPPED.expected_failures if all(getattr(e, k) == v for k, v in match.items())]
    return found


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return _data(_copy(tmp_path_factory.mktemp("users"), QUICK))


def test_the_quick_run_passes_under_the_shipped_entries_with_its_counts(quick):
    assert quick.problems() == [] and quick.unexpected_failures == []
    counts = {}
    for cell in quick.matrix_cells:
        counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
    assert counts == {"pass": 442, "unsupported": 230, "skipped": 6, "xfail": 132}


def test_every_weights_load_that_ran_says_how_many_variables_it_assigned(quick):
    loads = [c for c in quick.matrix_cells if c.loader in WEIGHTS_LOADERS
             and (c.original_verdict or c.verdict) in ("pass", "mismatch")]
    assert len(loads) > 150
    assert all(c.variables_total and 0 <= c.variables_assigned <= c.variables_total for c in loads)
    short = {c.id: (c.variables_assigned, c.variables_total) for c in loads
             if c.variables_assigned < c.variables_total}
    assert short == {**{cell: (0, 26) for cell in SKIPPED_ALL}, CHECKPOINT_6_OF_14: (6, 14)}


def test_skip_mismatch_assigns_none_of_a_keras3_nested_tree_and_raises_nothing(quick):
    cells = {c.id: c for c in quick.matrix_cells}
    for cell in SKIPPED_ALL:
        got = cells[cell]
        assert (got.original_verdict, got.verdict) == ("mismatch", "xfail")
        assert 2.0 < got.max_abs < 2.2 and got.error_type is None  # 2.09: the weights it was built with
        assert got.reason.startswith("the load assigned 0 of 26 variables")
        # the plain call and by_name=True fail loudly on the same file
        for loader in ("load_weights", "load_weights_by_name"):
            loud = cells[cell.replace("load_weights_skip_mismatch", loader)]
            assert loud.original_verdict == "load-error" and "received 0 variables" in loud.error_message
    entry = _entry(traits=("subclassed",), loaders=("load_weights_skip_mismatch",))
    assert {c.id for c in quick.matrix_cells if c.expected_failure == entry.index} == SKIPPED_ALL


def test_keras3_checkpoint_read_of_listed_sublayers_assigns_6_of_14(quick):
    got = next(c for c in quick.matrix_cells if c.id == CHECKPOINT_6_OF_14)
    assert got.original_verdict == "mismatch" and 1.0 < got.max_abs < 1.1
    assert (got.variables_assigned, got.variables_total) == (6, 14)
    # the same weights through .weights.h5 arrive whole
    whole = next(c for c in quick.matrix_cells if c.id == CHECKPOINT_6_OF_14.replace(
        "checkpoint/Checkpoint.read", "keras_weights/load_weights"))
    assert whole.verdict == "pass" and (whole.variables_assigned, whole.variables_total) == (14, 14)


def _edit(workdir, cell_id, edit):
    """Replace the recorded consume record of ``cell_id`` (its format's name now) by ``edit(record)``."""
    for path in (workdir / "results").glob("consume-*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        found = [i for i, r in enumerate(records) if current_names(r).get("id") == cell_id]
        if found:
            records[found[0]] = edit(records[found[0]])
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
            return
    raise AssertionError(f"no record of {cell_id}")


PLANTED = "tf2.15>tf2.16-tfkeras/sequential/h5_weights/load_weights"


def test_a_planted_load_that_assigned_0_variables_fails_the_run_though_its_outputs_matched(tmp_path):
    workdir = _copy(tmp_path, QUICK)
    kept = {}

    def plant(record):  # what the worker writes when the read left every variable as built
        kept.update(record)
        assert record["verdict"] == "pass" and record["variables_total"] == 8
        return formats.with_assignment(record, 0, record["variables_total"])

    _edit(workdir, PLANTED, plant)
    data = _data(workdir)
    (failed,) = data.unexpected_failures
    assert failed.id == PLANTED and failed.verdict == "load-error" and failed.error_type == "IncompleteLoad"
    assert failed.error_message.startswith("the load assigned 0 of 8 variables")
    assert failed.max_abs == kept["max_abs"]  # the outputs matched
    assert data.problems()[0].startswith("1 failing cells")


def test_a_record_that_says_pass_with_0_variables_assigned_is_refused(tmp_path):
    workdir = _copy(tmp_path, QUICK)
    _edit(workdir, PLANTED, lambda record: dict(record, variables_assigned=0))
    data = _data(workdir)
    got = next(c for c in data.matrix_cells if c.id == PLANTED)
    assert got.verdict == "skipped" and "a pass whose load assigned 0 of 8 variables" in got.reason
    (line,) = damaged(_context(workdir).selection, workdir)  # the report session fails the run on it
    assert PLANTED in line and "left out: a pass whose load assigned 0 of 8 variables" in line


def test_without_its_entry_the_silent_skip_mismatch_load_fails_the_run_as_a_mismatch(tmp_path):
    entry = _entry(traits=("subclassed",), loaders=("load_weights_skip_mismatch",))
    kept = [dataclasses.replace(e, index=i) for i, e in enumerate(
        e for e in SHIPPED.expected_failures if e.index != entry.index)]
    data = _data(_copy(tmp_path, QUICK), kept)
    assert {c.id for c in data.unexpected_failures} == SKIPPED_ALL
    assert {c.verdict for c in data.unexpected_failures} == {"mismatch"}


APPS = "run-users-apps"
# keras-team/keras#20147: Keras 3.3's load_weights of a Keras 2 legacy HDF5 weights file, every variable assigned
SILENT_20147 = {f"{producer}>tf2.16-keras3.3/applications_efficientnet/h5_weights/{loader}"
                for producer in ("tf2.10", "tf2.13", "tf2.15", "tf2.16-tfkeras")
                for loader in ("load_weights", "load_weights_skip_mismatch")}


def test_a_silent_load_planted_to_have_assigned_every_variable_is_not_explained_by_the_count_entry(tmp_path):
    """The skip_mismatch entries match the count in a mismatch's reason, not a band of max |diff|: the same
    mismatch from a load that assigned all 26 variables (what the worker writes then: no count in the reason)
    is drift of another kind, and fails the run."""
    workdir = _copy(tmp_path, QUICK)
    (planted, *_) = sorted(SKIPPED_ALL)

    def assigned_all(record):
        assert record["verdict"] == "mismatch" and record["reason"].startswith("the load assigned 0 of 26")
        return dict(record, variables_assigned=26, reason=None)

    _edit(workdir, planted, assigned_all)
    (failed,) = _data(workdir).unexpected_failures
    assert (failed.id, failed.verdict, failed.max_abs is not None) == (planted, "mismatch", True)


def test_efficientnet_weights_arrive_whole_and_keras2_h5_fails_in_keras3_on_depthwise_conv(tmp_path):
    """keras.applications.EfficientNetB0 (Rescaling, Normalization, depthwise convolutions, squeeze-excite) in
    the default profile's eight environments, formats h5, keras, h5_weights and keras_weights: every weights
    load that passed assigned its 313 float variables; Keras 3.15 cannot read Keras 2.15's .h5 (DepthwiseConv2D's
    groups), with or without a change."""
    data = _data(_copy(tmp_path, APPS))
    assert data.problems() == [] and data.unexpected_failures == []
    assert len(data.selection.envs) == 8 and set(data.selection.consumers) == set(data.selection.envs)
    counts = {}
    for cell in data.matrix_cells:
        counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
    assert counts == {"pass": 189, "unsupported": 159, "xfail": 164}
    loads = [c for c in data.matrix_cells if c.loader in WEIGHTS_LOADERS and c.verdict == "pass"]
    assert len(loads) == 157 and {(c.variables_assigned, c.variables_total) for c in loads} == {(313, 313)}
    h5 = next(c for c in data.matrix_cells if c.id == "tf2.15>tf2.21-keras3.15/applications_efficientnet/h5/load_model")
    assert h5.original_verdict == "load-error" and "'DepthwiseConv2D'" in h5.error_message
    assert [t["verdict"] for t in h5.workarounds] == ["load-error"] * 3
    # No entry of its own: the one keyed by the DepthwiseConv2D it holds explains it (written for conv_family)
    assert h5.expected_failure == _entry(layers=("DepthwiseConv2D", "MultiHeadAttention"), formats=("h5",)).index
    # Loads that assigned none (or 10) of the 313 variables drift by the scale of its outputs, 1.7e7 to 6.1e10:
    # the entries match them by the count in their reason, not by a band
    short = [c for c in data.matrix_cells if c.variables_total is not None and c.variables_assigned < 313]
    assert len(short) == 26 and {c.verdict for c in short} == {"xfail"}
    assert 1e7 < min(c.max_abs for c in short) and max(c.max_abs for c in short) < 1e11


def test_keras33_loads_keras2_legacy_h5_weights_of_efficientnet_without_its_normalization_statistics(tmp_path):
    """keras-team/keras#20147, seen: every variable assigned, and the outputs off by 1e11 (the reference's
    reach 2.7e10), in Keras 3.3 only; the entry keyed by the Normalization layer (written for
    normalization_adapted) explains it, and without that entry the run fails on each."""
    data = _data(_copy(tmp_path, APPS))
    cells = {c.id: c for c in data.matrix_cells}
    entry = _entry(layers=("Normalization",), formats=("h5_weights",))
    for cell in SILENT_20147:
        got = cells[cell]
        assert (got.original_verdict, got.verdict, got.expected_failure) == ("mismatch", "xfail", entry.index)
        assert (got.variables_assigned, got.variables_total) == (313, 313) and 9e10 < got.max_abs < 4e11
        later = cells[cell.replace("tf2.16-keras3.3", "tf2.21-keras3.15")]
        assert later.verdict == "pass"  # Keras 3.15 restores the statistics
    kept = [dataclasses.replace(e, index=i) for i, e in enumerate(
        e for e in SHIPPED.expected_failures if e.index != entry.index)]
    failed = _data(_copy(tmp_path / "without", APPS), kept).unexpected_failures
    assert {c.id for c in failed} == SILENT_20147 and {c.verdict for c in failed} == {"mismatch"}


DEFAULT = "run-users-default"


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    """The recorded run of the five fixtures in the default profile, all eight environments each way."""
    return _data(_copy(tmp_path_factory.mktemp("users-default"), DEFAULT))


def test_the_default_run_passes_under_the_shipped_entries_with_its_counts(default):
    assert default.problems() == [] and default.unexpected_failures == []
    assert set(default.selection.consumers) == set(default.selection.envs) and len(default.selection.envs) == 8
    counts = {}
    for cell in default.matrix_cells:
        counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
    assert counts == {"pass": 1745, "unsupported": 2695, "skipped": 40, "xfail": 1280}


def test_the_default_run_s_silent_weights_loads_are_the_ones_the_count_exposes(default):
    short = [c for c in default.matrix_cells if c.variables_total is not None
             and c.variables_assigned < c.variables_total]
    assert len(short) == 133 and {c.original_verdict for c in short} == {"mismatch"}
    assert {c.verdict for c in short} == {"xfail"}  # each explained by an entry that expects the silent mismatch
    assert all(0.1 < c.max_abs < 4 for c in short)  # 0.17 to 3.57: each predicts with weights it was built with
    by_call = {}
    for c in short:
        key = (c.consumer, c.format, c.loader)
        by_call[key] = by_call.get(key, 0) + 1
    # Keras 2.10's by_name=True of every newer .weights.h5, Keras 2.13's skip_mismatch=True of every other's
    assert by_call[("tf2.10", "keras_weights", "load_weights_by_name")] == 35
    assert all(c.variables_assigned == 0 for c in short if c.consumer == "tf2.10")
    assert by_call[("tf2.13", "keras_weights", "load_weights_skip_mismatch")] == 31
    # Keras 2.15 and tf_keras 2.16 with skip_mismatch=True: Keras 2.10's and 2.13's files of every fixture
    # (keras-team/keras#18830's other paths) and every Keras 3's nested subclassed tree, 0 variables each
    for consumer in ("tf2.15", "tf2.16-tfkeras"):
        assert by_call[(consumer, "keras_weights", "load_weights_skip_mismatch")] == 14
        assert {c.producer for c in short if c.consumer == consumer and c.format == "keras_weights"} == {
            "tf2.10", "tf2.13", "tf2.16-keras3.3", "tf2.21-keras3.15", "keras3.15-jax", "keras3.15-torch"}
    # Keras 3 with skip_mismatch=True of a Keras 2.13 file: the first layer of each type, not the repeated one
    partial = {c.id: (c.variables_assigned, c.variables_total) for c in short if c.variables_assigned}
    for consumer in ("tf2.16-keras3.3", "tf2.21-keras3.15", "keras3.15-jax", "keras3.15-torch"):
        assert partial[f"tf2.13>{consumer}/sequential/keras_weights/load_weights_skip_mismatch"] == (6, 8)
        assert partial[f"tf2.13>{consumer}/sequential_as_functional/keras_weights/load_weights_skip_mismatch"] == (2, 4)


def test_without_the_entry_of_keras213_files_keras215_s_silent_skip_mismatch_fails_the_run(tmp_path):
    """The entry written from this run (Keras 2.13 .weights.h5, skip_mismatch=True, Keras 2.15/tf_keras 2.16):
    without it, entry 7 (which expects the plain call's loud error) does not take these silent loads."""
    other_way = "Silent (keras-team/keras#21676): the other way"
    (entry,) = [e for e in SHIPPED.expected_failures if e.reason.startswith(other_way)]
    kept = [dataclasses.replace(e, index=i) for i, e in enumerate(
        e for e in SHIPPED.expected_failures if e.index != entry.index)]
    data = _data(_copy(tmp_path, DEFAULT), kept)
    assert {(c.producer, c.consumer, c.verdict) for c in data.unexpected_failures} == {
        ("tf2.13", "tf2.15", "mismatch"), ("tf2.13", "tf2.16-tfkeras", "mismatch")}
    assert len(data.unexpected_failures) == 10


def test_keras33_keras_file_of_a_sequential_of_a_functional_model_predicts_another_shape_in_keras315(default):
    for consumer in ("tf2.21-keras3.15", "keras3.15-jax", "keras3.15-torch"):  # on each backend
        got = next(c for c in default.matrix_cells
                   if c.id == f"tf2.16-keras3.3>{consumer}/sequential_of_functional/keras/load_model")
        assert got.original_verdict == "mismatch" and got.max_abs is None
        assert got.reason == "output 0 has shape (1, 8, 2), reference has (8, 2)"
