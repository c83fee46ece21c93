"""Every Keras 3 minor on JAX against each other, replayed (tests/data/run-keras3-minors: the real run of
2026-12-07, Keras 3.0.5 to 3.15.1 with the JAX of their day; dense_bn, subclassed, normalization_adapted in
.keras, .h5, .weights.h5, to_json and export): the entries its findings became explain exactly the cells
they were written for, without them those cells fail the run, and the silent drift of an adapted
Normalization loaded from .h5 with compile=False is bounded to Keras 3.3 to 3.5."""

import dataclasses
import re

import pytest
from test_expectation_keys import SHIPPED, _copy, _data

NAME = "run-keras3-minors"


def _minor(env: str) -> int:
    return int(re.match(r"keras3\.(\d+)-jax", env).group(1))


def _entry(**match):
    (found,) = [e for e in SHIPPED.expected_failures if all(getattr(e, k) == v for k, v in match.items())]
    return found


OLD_H5 = _entry(producer="keras>=3,<3.11", consumer="keras>=3,<3.3")
CONFIG_311 = _entry(producer="keras>=3.11,<3.13", consumer="keras>=3,<3.4")
TOWER = _entry(fixtures=("subclassed",), consumer="keras>=3,<3.3")
DRIFT = _entry(layers=("Normalization",), consumer="keras>=3.3,<3.6")
INITIALIZERS_315 = _entry(producer="keras>=3.15", consumer="keras>=3.13,<3.15")
RENORM_314 = _entry(producer="keras==3.14.*", consumer="keras==3.13.*")


def _cells(producers, consumers, fixtures, formats) -> set:
    return {(p, c, f, fmt) for p in producers for c in consumers for f in fixtures for fmt in formats}


FUNCTIONAL, FULL = {"dense_bn", "normalization_adapted"}, {"h5", "keras", "json"}
# entry -> its cells in the run (producer minor, consumer minor, fixture, format), as the run showed them
FINDINGS = {
    OLD_H5.index: _cells(range(0, 11), range(0, 3), FUNCTIONAL, {"h5"}),
    CONFIG_311.index: _cells(range(11, 13), range(0, 4), FUNCTIONAL, FULL),
    TOWER.index: _cells(range(0, 16), range(0, 3), {"subclassed"}, {"h5"}),
    # Keras 3.11 and 3.12 files fail in 3.3 on their functional config (CONFIG_311), in 3.4 and 3.5 as the rest
    DRIFT.index: _cells(range(0, 11), range(3, 6), {"normalization_adapted"}, {"h5"})
    | _cells(range(11, 13), range(4, 6), {"normalization_adapted"}, {"h5"}),
    INITIALIZERS_315.index: _cells([15], [13, 14], FUNCTIONAL, FULL),
    RENORM_314.index: _cells([14], [13], {"dense_bn"}, FULL),
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return _copy(tmp_path_factory.mktemp("run"), NAME)


@pytest.fixture(scope="module")
def data(recorded):
    return _data(recorded)


def test_the_slice_ran_whole_and_every_failure_is_explained(data):
    assert len(data.selection.envs) == 16 and data.missing == []
    assert data.unexpected_failures == [] and data.problems() == []


@pytest.mark.parametrize("index", sorted(FINDINGS))
def test_each_entry_explains_the_cells_the_run_showed(data, index):
    claimed = {(_minor(c.producer), _minor(c.consumer), c.fixture, c.format) for c in data.matrix_cells
               if c.expected_failure == index}
    assert claimed == FINDINGS[index]


def test_without_these_entries_their_cells_fail_the_run(recorded):
    entries = [e for e in SHIPPED.expected_failures if e.index not in FINDINGS]
    data = _data(recorded, [dataclasses.replace(e, index=i) for i, e in enumerate(entries)])
    failing = {(_minor(c.producer), _minor(c.consumer), c.fixture, c.format) for c in data.unexpected_failures}
    assert failing == set().union(*FINDINGS.values()) and data.problems()


def test_compile_false_drifts_silently_in_keras_3_3_to_3_5_and_matches_from_3_6(data):
    tried = {}
    for c in data.matrix_cells:
        if c.fixture == "normalization_adapted" and c.format == "h5" and _minor(c.producer) <= 10:
            change = next(w for w in c.workarounds if w["change"] == "compile=False")
            tried.setdefault(_minor(c.consumer), set()).add((change["verdict"], change["max_abs"] is not None
                                                             and change["max_abs"] > 1))
    assert {c: v for c, v in tried.items() if 3 <= c <= 5} == {c: {("mismatch", True)} for c in (3, 4, 5)}
    assert all(v == {("pass", False)} for c, v in tried.items() if c >= 6)
    assert all(v == {("load-error", False)} for c, v in tried.items() if c <= 2)
