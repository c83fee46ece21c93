"""The security proof's records replayed: every real load of a canary (tests/data/security-proof/records.json,
made by ``nox -s scan_proof -- --record tests/data/security-proof`` in uv venvs with keras==X and jax[cpu])
against scan's verdict from advisories.yaml as it is now. An edit of the table that contradicts a real
load fails here; a planted wrong fixed version shows it does.
"""
import json
import sys
from pathlib import Path

import pytest
import yaml

from harness.check.security import proof
from harness.check.security.advisories import ADVISORIES, load_advisories
from harness.check.security.canaries import build
from harness.check.security.findings import scan_file

RECORDS = json.loads((Path(__file__).parent.parent / "data" / "security-proof" / "records.json").read_text())


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    return {c.name: scan_file(corpus / c.name / c.file) for c in build(corpus)}


def disagreements(scans, advisories):
    records = proof.compare([dict(r) for r in RECORDS], scans, advisories)
    return [(r["canary"], r["loader"], r["release"], r["outcome"], r["scan"]) for r in records if not r["agrees"]]


def test_the_records_cover_every_canary_and_loader_at_every_boundary_release(scans):
    assert {r["canary"] for r in RECORDS} == set(scans)
    assert {r["release"] for r in RECORDS} >= {"3.8.0", "3.9.0", "3.11.2", "3.11.3", "3.13.1", "3.13.2", "3.15.1"}
    assert all(sorted(scans[r["canary"]].kinds) == r["findings"] for r in RECORDS)


def test_every_real_load_agrees_with_scan(scans):
    assert disagreements(scans, load_advisories()) == []


def _planted(tmp_path, row_id, affected, fixed):
    data = yaml.safe_load(ADVISORIES.read_text())
    row = next(r for r in data["advisories"] if r["id"] == row_id)
    row["affected"], row["fixed"] = affected, fixed
    path = tmp_path / "advisories.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_advisories(path)


def test_a_planted_wrong_fixed_version_contradicts_a_real_load(scans, tmp_path):
    # the real fix is 3.9.0: the npz canary's pickle ran at 3.8.0
    table = _planted(tmp_path, "KCM-2025-NPZ-PICKLE", [">=2.12.0,<2.16", ">=3.0.0,<3.8.0"], ["3.8.0"])
    assert ("npz_object_array", "load_model", "3.8.0", "marker", "blocked by safe_mode") in \
        disagreements(scans, table)
    # the real fix is 3.12.2: the ExternalLink in a .keras was followed at 3.12.1
    table = _planted(tmp_path, "KCM-2026-H5-LINK", [">=3.0.0,<3.12.1", ">=3.13.0,<3.14.1"], ["3.12.1", "3.14.1"])
    assert ("h5_external_link", "load_model", "3.12.1", "sentinel", "blocked by safe_mode") in \
        disagreements(scans, table)
    # the real fix is 3.12.0: the StringLookup read the vocabulary file its config names at 3.11.3
    table = _planted(tmp_path, "CVE-2025-12058", [">=3.0.0,<3.11.3"], ["3.11.3"])
    assert ("vocabulary_path", "load_model", "3.11.3", "sentinel", "blocked by safe_mode") in \
        disagreements(scans, table)


def test_the_keras_2_and_tf_keras_loads_are_judged_as_those_targets(scans):
    # Keras 2.15 and tf_keras 2.21 have no CVE-2025-12058 fix: scan says the path is followed there, as it was
    records = proof.compare([dict(r) for r in RECORDS if r["release"] in ("2.15.0", "tf_keras-2.21.0")], scans,
                            load_advisories())
    assert {(r["canary"], r["release"]): r["scan"] for r in records if r["canary"] == "vocabulary_path"} == {
        ("vocabulary_path", "2.15.0"): "follows paths", ("vocabulary_path", "tf_keras-2.21.0"): "follows paths"}
    assert {r["outcome"] for r in records if r["canary"] == "lambda_h5"} == {"marker"}


def test_a_crashed_load_keeps_its_whole_error_bounded(tmp_path):
    # the host has no Keras: the worker dies on its import, and the record keeps the traceback, not its last line
    (canary,) = [c for c in build(tmp_path) if c.name == "lambda_keras"]
    record = proof.load(Path(sys.executable), tmp_path, canary, "load_model")
    assert record["outcome"] == "crash" and len(record["error"]) <= proof.MAX_ERROR
    assert record["error"].startswith("Traceback") and "No module named 'keras'" in record["error"].splitlines()[-1]


@pytest.mark.parametrize("release, flavor, installs", [
    ("3.8.0", "keras3", ["keras==3.8.0", "jax[cpu]"]),
    ("2.15.0", "keras2", ["keras==2.15.0", "tensorflow-cpu~=2.15.0", "numpy<2"]),
    ("tf_keras-2.21.0", "tf_keras", ["tf-keras==2.21.0", "tensorflow-cpu~=2.21.0"]),
])
def test_a_release_names_its_target_and_what_its_venv_installs(release, flavor, installs):
    assert proof.target(release).flavor == flavor and proof.requirements(release, False) == installs
    assert sorted(["3.8.0", release, "3.15.1"], key=proof.release_key)[-1] == "3.15.1"
