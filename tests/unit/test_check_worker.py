"""The check phase's worker helpers that need no TensorFlow: inputs, references, error lines, hints."""
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.execute.processes import Interpreter
from harness.execute.supervisor import run_phase
from harness.report.hints import blocked_by_safe_mode, hint_for
from harness.workdir import PhaseFiles, read_records

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "harness" / "worker"))
import check as worker  # noqa: E402  (harness/worker/check.py, run inside environments)
import outcomes  # noqa: E402
from reference import save_reference  # noqa: E402

FAKE = Path(__file__).with_name("fake_worker.py")
SPECS = [("features", [None, 3], "float32"), ("ids", [None, None], "int64"), ("word", [None, 1], "string"),
         ("mask", [2, 2], "bool")]


def test_seeded_inputs_follow_the_signature_and_the_seed():
    x = worker.seeded_inputs(SPECS, seed=7)
    assert {k: (v.shape, v.dtype.kind) for k, v in x.items()} == {
        "features": ((4, 3), "f"), "ids": ((4, 5), "i"), "word": ((4, 1), "U"), "mask": ((2, 2), "b")}
    assert x["ids"].min() >= 0 and x["ids"].max() < worker.INT_HIGH
    again = worker.seeded_inputs(SPECS, seed=7)
    assert all(np.array_equal(x[k], again[k]) for k in x)


def test_seeded_inputs_cover_the_model_tables():
    """Integers span the Embedding's whole input_dim; strings come from the vocabulary plus one OOV word,
    so a lost vocabulary or a shifted table changes the outputs (the default words would all be OOV)."""
    vocabulary = np.array(["cyan", "magenta", "red", worker.OOV_WORD])
    domain = {"int_high": 1000, "words": vocabulary, "sentences": False}
    x = worker.seeded_inputs([("ids", [None, 50], "int32"), ("word", [None, 40], "string")], seed=7, domain=domain)
    assert x["ids"].max() > worker.INT_HIGH * 10 and x["ids"].max() < 1000
    assert set(x["word"].ravel()) == set(vocabulary)
    text = worker.seeded_inputs([("text", [None, 1], "string")], seed=7, domain=dict(domain, sentences=True))["text"]
    assert text.shape == (4, 1) and all(set(s.split()) <= set(vocabulary) for s in text.ravel())
    assert max(len(s.split()) for s in text.ravel()) > 1


def test_the_default_domain_of_an_object_without_layers():
    domain = worker.input_domain(object())  # a SavedModel signature has no layers to read
    assert (domain["int_high"], list(domain["words"]), domain["why"]) == (worker.INT_HIGH, list(worker.WORDS), {})


def test_perturbed_values_move_by_their_own_magnitude_and_keep_positive_ones_positive():
    rng = np.random.RandomState(1)
    variance = np.array([0.5, 2.0, 1e-3], "float32")
    moved = worker.perturbed(variance, rng)
    assert moved.dtype == np.float32 and np.all(moved > 0) and not np.allclose(moved, variance, rtol=0.05)
    zeros = worker.perturbed(np.zeros(1000, "float64"), rng)
    assert 0.08 < zeros.std() < 0.12  # NOISE_FLOOR where the values give no magnitude
    big = np.random.RandomState(2).standard_normal(1000) * 100
    assert 80 < (worker.perturbed(big, rng) - big).std() < 120
    again = worker.perturbed(variance, np.random.RandomState(1))
    assert np.array_equal(again, worker.perturbed(variance, np.random.RandomState(1)))


def test_expected_outputs_are_ordered_by_the_model_output_names(tmp_path):
    np.savez(tmp_path / "y.npz", score=np.ones((2, 1)), class_id=np.zeros((2, 3)))
    ordered = worker.read_expected(str(tmp_path / "y.npz"), ["score", "class_id"])
    assert [y.shape for y in ordered] == [(2, 1), (2, 3)] and ordered[0].dtype == np.float64
    assert worker.read_expected(None, None) is None
    np.savez(tmp_path / "bad.npz", y=np.array([{"a": 1}], dtype=object))
    with pytest.raises(worker.BadInput, match="--expected .*bad.npz: cannot be read without pickle"):
        worker.read_expected(str(tmp_path / "bad.npz"), None)


def test_a_dtype_numpy_cannot_make_asks_for_inputs():
    with pytest.raises(worker.BadInput, match="dtype bfloat16 for input t; give --inputs"):
        worker.seeded_inputs([("t", [None, 2], "bfloat16")], seed=1)


def test_user_inputs_must_name_the_model_inputs():
    one = {"x": np.zeros((2, 3))}
    assert list(worker.match_inputs(one, SPECS[:1], "in.npz")) == ["features"]  # one array feeds one input
    with pytest.raises(worker.BadInput, match="in.npz: has arrays a, b, the model's inputs are features, ids"):
        worker.match_inputs({"a": 1, "b": 2}, SPECS[:2], "in.npz")
    assert worker.match_inputs(one, None, "in.npz") is one  # no signature to check against


def test_object_arrays_are_refused_without_pickle(tmp_path):
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(worker.BadInput, match="cannot be read without pickle .*dtype=str"):
        worker.read_npz(str(tmp_path / "objects.npz"))


def test_inputs_are_made_once_and_shared(tmp_path):
    task = {"reference_dir": str(tmp_path / "ref"), "inputs": None, "seed": 3}
    x, origin = worker.reference_inputs(task, SPECS[:1])
    assert origin.startswith("seeded inputs from the input signature (seed 3")
    again, origin = worker.reference_inputs(task, None)  # a later loader reuses them, signature or not
    assert origin == "the inputs made for the first loader" and np.array_equal(x["features"], again["features"])


def test_no_inputs_and_no_signature_is_bad_input(tmp_path):
    with pytest.raises(worker.BadInput, match="no input signature .*give --inputs"):
        worker.reference_inputs({"reference_dir": str(tmp_path), "inputs": None, "seed": 3}, None)


def test_a_target_compares_with_its_own_loader_then_its_family_then_any(tmp_path):
    assert worker.reference_for(str(tmp_path), "TFSMLayer") is None
    (tmp_path / "tf.saved_model.load").mkdir()
    save_reference(str(tmp_path / "tf.saved_model.load"), {"x": np.zeros(2)}, np.ones(2))
    assert worker.reference_for(str(tmp_path), "TFSMLayer") == "tf.saved_model.load"
    assert worker.reference_for(str(tmp_path), "load_model") == "tf.saved_model.load"
    (tmp_path / "load_model").mkdir()
    save_reference(str(tmp_path / "load_model"), {"x": np.zeros(2)}, np.ones(2))
    assert worker.reference_for(str(tmp_path), "load_model") == "load_model"
    assert worker.reference_for(str(tmp_path), "TFSMLayer") == "tf.saved_model.load"


def test_keras3_wrapped_layer_errors_keep_their_cause():
    text = ("Exception encountered when calling TFSMLayer.call().\n\n\x1b[1mBinding inputs to tf.function failed "
            "due to `too many positional arguments`. Received args: ({'ids': ...\x1b[0m\n\nArguments received by")
    line = outcomes.first_line(text)
    assert line == ("Exception encountered when calling TFSMLayer.call(). Binding inputs to tf.function failed due "
                    "to `too many positional arguments`. Received args: ({'ids': ...")
    assert "TFSMLayer passes its input positionally" in hint_for(f"TypeError: {line}")
    assert outcomes.first_line("ValueError: one\ntwo") == "ValueError: one"


@pytest.mark.parametrize("signature, expected", [
    ("ValueError: Unknown layer: 'GainDense'. Please ensure you are using", "--custom-objects"),
    ("TypeError: Could not locate class 'Functional'. Make sure custom classes", "names its model class 'Functional'"),
    ("AttributeError: '_UserObject' object has no attribute 'predict'", "no Keras metadata"),
    ("ValueError: Requested the deserialization of a Lambda layer with a Python `lambda` inside it. ... you can pass "
     "`safe_mode=False` to the loading function in order to allow Lambda layer loading.", "Blocked by safe_mode"),
])
def test_check_signatures_have_hints(signature, expected):
    assert expected in hint_for(signature)


def test_only_safe_mode_refusals_count_as_blocked():
    assert blocked_by_safe_mode("ValueError: ... passing `safe_mode=False` to the loading function")
    assert not blocked_by_safe_mode("ValueError: Unknown layer: 'GainDense'")


def test_a_crashing_check_cell_keeps_its_role_and_loader(tmp_path):
    files = PhaseFiles(tmp_path, "check", "envT")
    files.reset()
    cells = [{"id": "envT/load_model-segv", "role": "target", "loader": "load_model", "format": "h5",
              "fixture": "m.h5", "producer": "envS", "atol": 0, "rtol": 0}]
    run_phase(files, Interpreter(sys.executable), {}, {}, cells, 30.0, 30.0, worker=FAKE)
    (record,) = read_records(files.results)
    assert (record["verdict"], record["role"], record["loader"], record["consumer"], record["producer"]) == \
        ("crash", "target", "load_model", "envT", "envS")
