"""check's known failures by what a file holds: predicted before the load, judged after (harness.check.predictions).

Replays the real check of 2026-12-07 of a Keras 2.15 .h5 holding a GRU (tests/data/check/gru/README.md): Keras 3.3
and 3.15 failed as expected_failures' RNN entry predicted; tf_keras 2.16 loaded it.
"""
import json
import shutil
from pathlib import Path

import h5py

from harness.check import check_plan, predictions, report, security_section
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX

RUN = Path(__file__).resolve().parent.parent / "data" / "check" / "gru"
SHIPPED = spec.load(DEFAULT_MATRIX)
RNN = next(e for e in SHIPPED.expected_failures if e.layers and "GRU" in e.layers)
K33, K315 = "tf2.16-keras3.3", "tf2.21-keras3.15"


def _recorded(tmp_path) -> check_plan.CheckPlan:
    """The recorded check, its plan pointed at a copy of its records, its file and the shipped matrix.yaml."""
    shutil.copytree(RUN, tmp_path / "check")
    plan = json.loads((tmp_path / "check" / "plan.json").read_text())
    plan["file"]["path"] = str(tmp_path / "check" / "gru_model.h5")
    plan.update(workdir=str(tmp_path / "check"), matrix=str(DEFAULT_MATRIX))
    return check_plan.CheckPlan(**plan)


def test_the_file_is_read_without_loading_and_the_predictions_are_those_printed_before_the_load(tmp_path):
    checked = _recorded(tmp_path)
    found = predictions.predict(checked, SHIPPED)
    assert found["holds"] == {"layers": ["Dense", "Functional", "GRU", "InputLayer"],
                              "traits": ["orthogonal", "time_major"]}
    assert found == json.loads((RUN / "predictions.json").read_text())
    printed = (RUN / "check.stderr.txt").read_text()
    assert predictions.before_text(found) in printed
    assert printed.index("known failures that apply") < printed.index("Running session check_in")
    assert (f"- {K315} (load_model): holds a GRU: Keras 3.15.1 on TF 2.21.0 fails with load-error "
            f"`{RNN.error}` (expected_failures[{RNN.index}])") in printed
    assert not any(p["env"] in ("tf2.15", "tf2.16-tfkeras") for p in found["predictions"])


def test_after_the_load_each_failure_names_the_entry_that_explained_it(tmp_path):
    result = report.build(_recorded(tmp_path))
    security_section.attach(result)  # as steps.finish does
    held = {(r["env"], r["explained_by"]) for r in predictions.outcomes(result) if r["held"]}
    assert held == {(K33, RNN.index), (K315, RNN.index)}
    text = report.render_markdown(result)
    assert (f"- {K315} (load_model): prediction held: expected_failures[{RNN.index}] explains it: it gave load-error "
            "`ValueError: Unrecognized keyword arguments passed to GRU: {'time_major': False}`") in text
    assert "prediction wrong" not in text
    recorded = (RUN / "check.stdout.md").read_text()
    assert text.replace(str(tmp_path / "check"), "/tmp/gru-22a").strip() == recorded.strip()
    assert json.loads(report.render_json(result))["known_failures"]["outcomes"][0]["held"] is True


def test_a_prediction_the_load_did_not_bear_out_is_shown_wrong(tmp_path):
    checked = _recorded(tmp_path)
    path = checked.files(K315).results
    records = [json.loads(line) for line in path.read_text().splitlines()]
    passed = dict(records[0], verdict="pass", error_type=None, error_message=None, max_abs=0.0, max_rel=0.0,
                  margin=0.0, workarounds=None, works_with=None)
    path.write_text(json.dumps(passed) + "\n")  # planted: Keras 3.15 loads it
    text = report.render_markdown(report.build(checked))
    assert f"- {K315} (load_model): **prediction wrong**: expected_failures[{RNN.index}]" in text
    assert "predicted a failure, and it loaded and matched" in text


def test_a_file_whose_layers_differ_gets_no_prediction_by_them(tmp_path):
    checked = _recorded(tmp_path)
    with h5py.File(checked.file["path"], "r+") as handle:  # planted: the GRU's class renamed in the stored config
        handle.attrs["model_config"] = handle.attrs["model_config"].replace('"class_name": "GRU"',
                                                                            '"class_name": "MyRecurrent"')
    found = predictions.write(checked, SHIPPED)
    assert "MyRecurrent" in found["holds"]["layers"] and "GRU" not in found["holds"]["layers"]
    assert not any(p["entry"] == RNN.index for p in found["predictions"])
    outcome = next(r for r in predictions.outcomes(report.build(checked)) if r["env"] == K315)
    assert RNN.index not in outcome["predicted"] and outcome["explained_by"] is None and outcome["held"] is not True


def test_a_savedmodel_or_unreadable_config_predicts_nothing_by_layers(tmp_path):
    config, why = predictions.stored_config(tmp_path, "savedmodel", None)
    assert config is None and "SavedModel" in why
    bad = tmp_path / "model.h5"
    bad.write_bytes(b"not hdf5")
    config, why = predictions.stored_config(bad, "h5", None)
    assert config is None and why.startswith("its config could not be read (")
    assert predictions.holds_line({"holds": None, "read_from": why}).startswith("not known: its config could not")
