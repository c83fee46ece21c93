"""A load that reads weights into a model made first counts the variables it assigned
(harness/worker/formats.py ``assignment``, ``with_assignment``): fewer than the model holds fails, even
where the outputs match; the host refuses a record whose pass contradicts its count."""

import sys
from pathlib import Path

import numpy as np
import pytest

from harness.report.results import record_problem

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness" / "worker"))
import formats  # noqa: E402  (harness/worker/formats.py, run inside environments)


class Values:
    """A variable as ``formats.variables_of`` reads one (Keras 3's KerasVariable on JAX is no more):
    ``numpy()`` and ``assign``, here over a numpy array."""

    def __init__(self, values):
        self.values = np.array(values)

    def numpy(self):
        return self.values

    def assign(self, values):
        self.values = np.array(values, dtype=self.values.dtype)


class Weighted:
    """An object with ``weights``, as a Keras model has."""

    def __init__(self, *variables):
        self.weights = list(variables)


def _model():
    kernel, bias = Values(np.zeros((3, 2), "float32")), Values(np.zeros(2, "float32"))
    count = Values(np.array(64, "int64"))  # a Normalization's count: the same built or loaded
    return Weighted(kernel, bias, count), kernel, bias


def test_a_read_that_changed_every_float_variable_assigned_them_all():
    model, kernel, bias = _model()
    before = formats.snapshot(model)
    kernel.assign(np.ones((3, 2)))
    bias.assign([0.5, -0.5])
    assert formats.assignment(before, model) == (2, 2)  # the integer count is in neither figure


def test_a_read_that_left_a_variable_as_built_or_made_one_after_it_did_not_assign_them():
    model, kernel, _ = _model()
    before = formats.snapshot(model)
    kernel.assign(np.ones((3, 2)))
    model.weights.append(Values(np.ones(4, "float32")))  # built on the first predict, after the read
    assert formats.assignment(before, model) == (1, 3)
    assert formats.assignment({}, model) == (0, 3)  # a model with no variables before the read


PASS = {"verdict": "pass", "max_abs": 0.0, "max_rel": 0.0, "margin": 0.0, "reason": None}
MISMATCH = {"verdict": "mismatch", "max_abs": 4.68, "max_rel": 2.0, "margin": 9e4, "reason": None}


def test_a_full_count_keeps_the_verdict_and_records_the_figures():
    assert formats.with_assignment(PASS, 14, 14) == dict(PASS, variables_assigned=14, variables_total=14)


def test_a_load_that_assigned_none_fails_though_its_outputs_matched():
    out = formats.with_assignment(PASS, 0, 14)
    assert out["verdict"] == "load-error" and out["stage"] == "assign" and out["error_type"] == "IncompleteLoad"
    assert out["error_message"].startswith("the load assigned 0 of 14 variables; the other 14 keep")
    assert (out["variables_assigned"], out["variables_total"], out["max_abs"]) == (0, 14, 0.0)
    assert record_problem(dict(out, id="a", producer="p", fixture="f", format="weights_h5",
                               loader="load_weights")) is None


def test_a_mismatch_stays_one_and_says_how_many_were_assigned():
    out = formats.with_assignment(MISMATCH, 2, 14)
    assert out["verdict"] == "mismatch" and out["reason"] == (
        "the load assigned 2 of 14 variables; the other 12 keep the values the model was built with")


@pytest.mark.parametrize(("assigned", "total", "said"), [
    (0, 14, "a pass whose load assigned 0 of 14 variables"),
    (15, 14, "is no count of a load"),
    (-1, 14, "is no count of a load"),
    (2.5, 14, "is no count of a load"),
    (None, 14, "is no count of a load"),
])
def test_the_host_refuses_a_record_whose_count_contradicts_its_verdict(assigned, total, said):
    record = dict(PASS, id="a", producer="p", fixture="f", format="weights_h5", loader="load_weights",
                  variables_assigned=assigned, variables_total=total)
    assert said in record_problem(record)
