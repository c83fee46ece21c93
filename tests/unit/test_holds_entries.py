"""Entries keyed by what a model holds (``layers:``/``traits:``), replayed on the recorded runs.

The recorded produce records carry ``holds`` from real saves (tests/data/holds/README.md). Rewriting the
fixture-keyed entries by layer class and trait must leave every cell of every replayed run with the same
verdict and the same explaining entry; an entry keyed by a layer the model does not hold explains nothing;
editing a record's layers changes what it explains; and a record without ``holds`` is never matched as if
the model held nothing.
"""
import dataclasses
import json

import pytest
from test_expectation_keys import DATA, SHIPPED, _copy, _data

from harness import report
from harness.config import spec
from harness.config.matrix_yaml import load_yaml
from harness.report.results import counts, record_problem

RUNS = ("run-quick-all", "run-default", "run-default-2026-12-07")
BEFORE = DATA / "holds" / "entries-by-fixture.yaml"
RNN = next(e for e in SHIPPED.expected_failures if e.layers and "GRU" in e.layers)
SUBCLASSED = [e for e in SHIPPED.expected_failures if e.traits == ("subclassed",)]
# Keras 2 .h5 of the recurrent fixture, loaded by Keras 3.15: the RNN entry explains it in the default run.
RNN_CELL = "tf2.15>tf2.21-keras3.15/recurrent/h5/load_model"


def _before():
    # recorded under the weights formats' old names, read as matrix.yaml is: under their names now
    raw = spec.current_format_names({"profiles": {}, **load_yaml(BEFORE.read_text())})["expected_failures"]
    return [spec._expected_failure(index, entry) for index, entry in enumerate(raw)]


def _outcome(data):
    return ({c.id: (c.verdict, c.original_verdict, c.expected_failure) for c in data.cells + data.saves},
            counts(data.cells), counts(data.saves))


def _edit_holds(workdir, producer, fixture, holds):
    """Set (``holds`` None: remove) the ``holds`` of one producer's produce records of one fixture."""
    for path in (workdir / "results").glob(f"produce-{producer}*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for record in records:
            if record.get("fixture") == fixture or fixture is None:
                record.pop("holds", None)
                if holds is not None:
                    record["holds"] = holds
        path.write_text("".join(json.dumps(r) + "\n" for r in records))


# The entries that still name fixtures, and why no layer class or trait says their cause (yet).
FIXTURE_KEYED = {
    # a layer class that occurs twice in a model (Keras 2.13 .weights.h5 paths); holds has no such trait
    ("bidirectional", "keras_weights", None), ("sequential", "keras_weights", ("load_weights",)),
    ("sequential", "keras_weights", ("load_weights_skip_mismatch",)),
    # the model's input dtype (Keras 3.3 traces signatures with float inputs), not a layer
    ("string_lookup", "tf_saved_model", None), ("masked_embedding", "tf_saved_model", ("TFSMLayer",)),
    # a Sequential wrapping a functional model: Sequential + nested_model, which other fixtures hold apart
    ("sequential_of_functional", "h5", ("load_model",)), ("sequential_of_functional", "keras", None),
    # sublayers kept in a list and a dict (no trait), and its BatchNormalization in Keras 3.13+ files
    ("layer_containers", "keras", None), ("layer_containers", "checkpoint", None), ("layer_containers", "h5", None),
    # the fixture's own class name, Tower, unknown to Keras 3.0 to 3.2 (the registered-class lookup of later ones)
    ("subclassed", "h5", None),
}


def test_the_shipped_entries_name_fixtures_only_where_the_fixture_is_the_cause():
    before = [e for e in _before() if e.fixtures]
    after = [e for e in SHIPPED.expected_failures if e.fixtures]
    assert (len(_before()), len(before)) == (57, 36)
    # 3 of the rewritten 57; the runs of the new fixtures and of the Keras 3 minors added the rest
    assert {(e.fixtures[0], e.formats[0], e.loaders) for e in after} == FIXTURE_KEYED and len(after) == 12
    assert all(not e.keyed_by_holds for e in after)


@pytest.mark.parametrize("name", RUNS)
def test_entries_by_layers_give_the_replayed_runs_the_same_verdicts(tmp_path, name):
    workdir = _copy(tmp_path, name)
    after = _data(workdir)
    assert _outcome(_data(workdir, _before())) == _outcome(after)
    assert not any(o.unknown for o in after.expectations)  # every record of the run says what its model holds
    by_holds = {o.entry.index for o in after.expectations if o.entry.keyed_by_holds and o.xfail}
    # The rewritten entries do the explaining where their fixtures ran (run-default holds only dense_bn, small_cnn
    # and twin_dense, which no rewritten entry named).
    assert bool(by_holds) == (name != "run-default")
    if name == "run-default-2026-12-07":
        assert next(c for c in after.cells if c.id == RNN_CELL).expected_failure == RNN.index


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return _copy(tmp_path_factory.mktemp("run"), "run-default-2026-12-07")


def test_an_entry_keyed_by_a_layer_the_model_does_not_hold_explains_nothing(default_run):
    planted = [dataclasses.replace(e, layers=("Conv3D",)) if e.index == RNN.index else e
               for e in SHIPPED.expected_failures]
    data = _data(default_run, planted)
    assert RNN_CELL in {c.id for c in data.unexpected_failures}
    assert not next(o for o in data.expectations if o.entry.index == RNN.index).xfail


def test_a_record_whose_layers_were_edited_changes_what_it_explains(tmp_path):
    workdir = _copy(tmp_path, "run-default-2026-12-07")
    # No RNN left in tf2.15's recurrent model: the RNN entry no longer covers its cells.
    _edit_holds(workdir, "tf2.15", "recurrent", {"layers": ["Dense", "Functional", "InputLayer"], "traits": []})
    data = _data(workdir)
    assert RNN_CELL in {c.id for c in data.unexpected_failures}
    # tf2.15's mixed_precision model said to hold a GRU and no mixed_float16 policy: the mixed-precision entry
    # no longer covers its .h5 cell in Keras 3.15, the RNN entry does and says it expects another failure.
    workdir = _copy(tmp_path / "gru", "run-default-2026-12-07")
    _edit_holds(workdir, "tf2.15", "mixed_precision", {"layers": ["Dense", "GRU"], "traits": []})
    data = _data(workdir)
    cell = next(c for c in data.cells if c.id == "tf2.15>tf2.21-keras3.15/mixed_precision/h5/load_model")
    assert cell in data.unexpected_failures
    assert cell in next(o for o in data.expectations if o.entry.index == RNN.index).unmatched
    assert cell.expectation_note.startswith(f"{RNN.key_path} expects load-error")


def test_a_record_without_holds_is_never_matched_as_holding_nothing(tmp_path):
    workdir = _copy(tmp_path, "run-default-2026-12-07")
    _edit_holds(workdir, "tf2.15", None, None)  # records from before producers recorded what a model holds
    data = _data(workdir)
    cell = next(c for c in data.cells if c.id == RNN_CELL)
    assert cell.verdict == "load-error" and cell in data.unexpected_failures
    assert f"{RNN.key_path} is keyed by what a model holds, and the records of tf2.15's recurrent do not say" \
        in cell.expectation_note
    outcome = next(o for o in data.expectations if o.entry.index == RNN.index)
    assert cell in outcome.unknown and RNN_CELL in outcome.to_json()["unknown"]
    assert "It is keyed by what a model holds, and these failing cells' records do not say" in \
        report.markdown.render(data)
    # A subclassed model's save that Keras 2 refuses (a produce entry keyed by trait) stays a failure too.
    saves = {c.id: c for c in data.saves}
    assert saves["tf2.15/subclassed/h5"].verdict == "save-error"
    assert any(saves["tf2.15/subclassed/h5"] in o.unknown for o in data.expectations if o.entry in SUBCLASSED)


def test_a_record_whose_holds_is_not_layers_and_traits_is_refused():
    record = {"phase": "produce", "verdict": "saved", "producer": "tf2.15", "fixture": "recurrent", "format": "h5",
              "holds": ["GRU"]}
    assert record_problem(record) == 'holds is not {"layers": [names], "traits": [names]}'
    assert record_problem(dict(record, holds={"layers": ["GRU"], "traits": []})) is None
