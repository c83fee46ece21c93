"""The breakages the default profile showed on 2026-12-01 once every entry said which error it expects,
replayed on the records of its run of 2026-12-07 (tests/data/run-default-2026-12-07: the fixtures those
entries name, in the h5, keras and json formats), whose loaders are the calls users write: each entry
explains exactly the cells it was written for, and without it they fail the run, the silent ones as
mismatches."""

import dataclasses

import pytest
from test_expectation_keys import SHIPPED, _copy, _data

NAME = "run-default-2026-12-07"


def _entry(**match):
    """The shipped entry whose fields are ``match`` (found by content, not by its index)."""
    (found,) = [e for e in SHIPPED.expected_failures
                if all(getattr(e, key) == value for key, value in match.items())]
    return found


SILENT_21314 = _entry(traits=("subclassed",), formats=("json",), verdict="mismatch", producer="keras>=2.14,<3")
SILENT_21314_BACK = _entry(traits=("subclassed",), formats=("json",), verdict="mismatch", producer="keras==2.13.*")
SILENT_KERAS33 = _entry(traits=("subclassed",), formats=("json",), verdict="mismatch", consumer="keras>=3,<3.15")
FINDINGS = {  # entry -> the cells it explains in the recording, as the run showed them
    SILENT_21314.index: {"tf2.15>tf2.13/subclassed/json/model_from_json",
                         "tf2.16-tfkeras>tf2.13/subclassed/json/model_from_json"},
    SILENT_21314_BACK.index: {f"tf2.13>{consumer}/subclassed/json/model_from_json"
                              for consumer in ("tf2.15", "tf2.16-tfkeras")},
    SILENT_KERAS33.index: {f"{producer}>tf2.16-keras3.3/subclassed/json/model_from_json"
                           for producer in ("tf2.13", "tf2.15", "tf2.16-tfkeras")},
    _entry(traits=("subclassed",), formats=("json",), consumer="keras<2.12").index: {
        f"{producer}>tf2.10/subclassed/json/model_from_json"
        for producer in ("tf2.10", "tf2.13", "tf2.15", "tf2.16-tfkeras", "tf2.16-keras3.3", "tf2.21-keras3.15",
                         "keras3.15-jax", "keras3.15-torch")},
    _entry(traits=("registered_function",), consumer="keras<2.13").index: {
        f"{producer}>tf2.10/custom_activation/{fmt}"
        for producer in ("tf2.13", "tf2.15", "tf2.16-tfkeras") for fmt in ("h5/load_model", "json/model_from_json")},
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return _copy(tmp_path_factory.mktemp("run"), NAME)


def test_each_new_entry_explains_the_cells_the_run_showed(recorded):
    data = _data(recorded)
    assert data.unexpected_failures == [] and data.problems() == []
    for index, cells in FINDINGS.items():
        assert {c.id for c in data.matrix_cells if c.expected_failure == index} == cells, index


@pytest.mark.parametrize("index", sorted(FINDINGS))
def test_without_the_entry_its_cells_fail_the_run(recorded, index):
    entries = [e for e in SHIPPED.expected_failures if e.index != index]
    data = _data(recorded, [dataclasses.replace(e, index=i) for i, e in enumerate(entries)])
    assert {c.id for c in data.unexpected_failures} == FINDINGS[index]
    assert data.problems()[0].startswith(f"{len(FINDINGS[index])} failing cells")


def test_the_silent_cells_load_predict_and_have_other_weights(recorded):
    cells = {c.id: c for c in _data(recorded).matrix_cells}
    for cell_id in set().union(*(FINDINGS[e.index] for e in (SILENT_21314, SILENT_21314_BACK, SILENT_KERAS33))):
        cell = cells[cell_id]
        assert cell.original_verdict == "mismatch" and cell.error_type is None
        assert SILENT_21314.max_abs[0] < cell.max_abs < SILENT_21314.max_abs[1]
        assert cell.levels["weights"]["verdict"] == "mismatch"
