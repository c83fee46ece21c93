"""nox -s scan's command line: targets by environment or release, exit status, JSON; and check's Security section."""

import json
import zipfile

import pytest

from harness.check import check_plan, report, security_section as security_report
from harness.check.modelfile import UserInputError
from harness.check.security.scan import main, release_target
from tests.unit.test_check_report import K3, TFK, _plan, _reference, _write

OS_SYSTEM = {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}


def os_keras(path):
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {"name": "d", "units": 1, "activation": OS_SYSTEM},
                }
            ],
        },
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.8.0"}))
        archive.writestr("config.json", json.dumps(config))
    return path


@pytest.mark.parametrize(
    "text, flavor, keras",
    [
        ("keras==3.8.0", "keras3", "3.8.0"),
        ("tensorflow==2.18.1 keras==3.8.0", "keras3", "3.8.0"),
        ("tensorflow-cpu==2.15.1", "keras2", "2.15"),
        ("tf_keras==2.16.0", "tf_keras", "2.16.0"),
        ("keras==2.13.1", "keras2", "2.13.1"),
    ],
)
def test_release_targets(text, flavor, keras):
    target = release_target(text)
    assert (target.flavor, str(target.keras)) == (flavor, keras)


@pytest.mark.parametrize(
    "text, message",
    [
        ("tensorflow==2.18.1", "brings no Keras of its own"),
        ("keras>=3.8", "pin keras to one release with =="),
        ("torch==2.5.0", "not keras, tf-keras or tensorflow"),
        ("keras==3.8.0 ===", "neither an environment"),
    ],
)
def test_bad_release_targets_are_one_line(text, message):
    with pytest.raises(UserInputError, match=message):
        release_target(text)


def test_an_os_function_runs_in_keras_3_8_only_status_1(tmp_path):
    status, text = main(
        [str(os_keras(tmp_path / "m.keras")), "--to", "keras==3.8.0", "keras==3.15.0", "--format", "json"]
    )
    (scanned,) = json.loads(text)["files"]
    verdicts = {t["target"]: (t["verdict"], [a["id"] for a in t["advisories"]]) for t in scanned["targets"]}
    assert status == 1 and verdicts == {
        "keras==3.8.0": ("runs code", ["CVE-2025-1550"]),
        "keras==3.15.0": ("blocked by safe_mode", []),
    }
    assert [f["kind"] for f in scanned["findings"]] == ["function_reference"]


def test_the_default_profile_and_environment_names_come_from_matrix_yaml(tmp_path):
    status, text = main([str(os_keras(tmp_path / "m.keras"))])
    assert status == 1 and "| tf2.16-keras3.3 " in text and "CVE-2025-1550" in text
    status, text = main([str(os_keras(tmp_path / "m.keras")), "--to", "tf2.21-keras3.15"])
    assert status == 0 and "blocked by safe_mode" in text
    with pytest.raises(UserInputError, match="no environment named tf9.9-nowhere"):
        main([str(tmp_path / "m.keras"), "--to", "tf9.9-nowhere"])


def test_a_missing_file_is_bad_input(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        main([str(tmp_path / "none.keras"), "--to", "keras==3.8.0"])


def test_check_reports_security_and_fails_on_unsafe(tmp_path):
    planned = _plan(tmp_path, targets=(TFK, K3))
    os_keras(tmp_path / "model.keras")
    _reference(planned)
    for env in (TFK, K3):
        _write(planned, env, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_model")
    result = report.build(planned)
    security_report.attach(result)
    assert result.status == 0  # without --fail-on unsafe the loads' verdicts decide
    text = report.render_markdown(result)
    assert "## Security" in text and "function_reference" in text
    targets = {t["target"]: t["verdict"] for t in json.loads(report.render_json(result))["security"]["targets"]}
    # tf_keras imports the module (assumed); Keras 3.15 refuses it (as matrix.yaml's pins and the facts say).
    assert targets == {TFK: "runs code", K3: "blocked by safe_mode"}
    planned = check_plan.CheckPlan(**{**planned.__dict__, "fail_on": ["unsafe"]})
    result = report.build(planned)
    security_report.attach(result)
    assert result.status == 1 and result.message.startswith(f"UNSAFE: loading the file runs code from it in {TFK}")


def test_a_load_refused_by_safe_mode_is_measured_and_unsafe_runs_code(tmp_path):
    from tests.unit.test_check_report import LAMBDA
    from tests.unit.test_security_findings import LAMBDAS, legacy_h5

    k33 = "tf2.16-keras3.3"
    legacy_h5(
        tmp_path / "model.keras",
        {
            "class_name": "Lambda",
            "config": {  # HDF5 under the plan's name
                "name": "lam",
                "function": [LAMBDAS["3.11"]["plain"], None, None],
                "function_type": "lambda",
            },
        },
    )
    planned = _plan(tmp_path, targets=(k33,))
    _reference(planned)
    _write(planned, k33, verdict="pass", max_abs=0.0, max_rel=0.0, reference="load_model")
    result = report.build(planned)
    security_report.attach(result)
    (found,) = result.security["verdicts"]
    assert (found.verdict, [a.id for a in found.advisories]) == ("runs code", ["CVE-2025-9905"])
    # A planted record: the real load in that environment was refused by safe_mode; measured beats the table.
    planned.files(k33).reset()
    _write(planned, k33, verdict="load-error", error_type="ValueError", error_message=LAMBDA)
    result = report.build(planned)
    security_report.attach(result)
    (found,) = result.security["verdicts"]
    assert found.verdict == "blocked by safe_mode" and found.reasons[-1].startswith("measured: safe_mode refused")
    unsafe = check_plan.CheckPlan(**{**planned.__dict__, "safe_mode": False})
    result = report.build(unsafe)
    security_report.attach(result)
    (found,) = result.security["verdicts"]
    assert found.verdict == "runs code" and found.reasons[-1] == "--unsafe: safe_mode was off"


def test_a_registered_class_from_the_users_module_needs_custom_objects_not_blocked(tmp_path):
    """The security proof's custom_class canary (a .keras naming kcm_canary_mod.CanaryLayer, registered as
    kcm_canary>CanaryLayer): real loads (tests/data/security-proof/records.json) ran the module's code in
    Keras 3.8.0 and, from 3.9.0 to 3.15.1, refused it for lack of registration and loaded it with
    custom_objects. scan says so: "needs custom_objects", exit 0; "runs code" (exit 1) where it would run."""
    from harness import ROOT
    from harness.check.security import canaries
    canaries.build(tmp_path)
    path = str(tmp_path / "custom_class" / "m.keras")
    measured = {r["release"]: r["outcome"] for r in json.loads(
        (ROOT / "tests" / "data" / "security-proof" / "records.json").read_text()) if r["canary"] == "custom_class"}
    assert measured["3.8.0"] == "marker" and measured["3.9.0"] == measured["3.15.1"] == "needs custom_objects"
    status, text = main([path, "--to", "keras==3.9.0", "keras==3.15.1", "tf2.21-keras3.15"])
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith(("| keras==", "| tf2."))]
    assert status == 0 and [row[:3] for row in rows] == [
        ["keras==3.9.0", "keras3 3.9.0", "needs custom_objects"],
        ["keras==3.15.1", "keras3 3.15.1", "needs custom_objects"],
        ["tf2.21-keras3.15", "keras3 3.15.1", "needs custom_objects"]]
    assert rows[1][4] == ("custom_class: needs custom_objects (Keras 3.15.1 imports no module outside Keras: a "
                          "registered class loads with custom_objects, or once its module registers it)")
    assert "blocked" not in text
    status, text = main([path, "--to", "keras==3.8.0", "keras==3.15.1", "--format", "json"])
    (scanned,) = json.loads(text)["files"]
    assert status == 1 and [(t["target"], t["verdict"]) for t in scanned["targets"]] == [
        ("keras==3.8.0", "runs code"), ("keras==3.15.1", "needs custom_objects")]
