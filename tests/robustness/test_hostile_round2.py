"""Hostile input, round 2 (issue 23): each case as it was reproduced, then what the harness does now.

The shared paths each case goes through: names joined through ``harness.guard.within`` (golden), one
reader for files the host opens (``harness.guard.read_bytes``), one escaping rule per report format
(``harness.report.escape``), and records that cannot contradict each other (``harness.report.results``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.spec import SpecError
from harness.execute import golden
from harness.guard import OutsideWorkdir


def _produced(work: Path, env: str, records: list[dict]) -> None:
    (work / "results").mkdir(parents=True, exist_ok=True)
    (work / "results" / f"produce-{env}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (work / "results" / f"produce-{env}.facts.json").write_text(json.dumps({"keras": "2.9.0"}))


@pytest.mark.parametrize("field, value", [("fixture", "../../../../../victim"), ("format", "../../../victim"),
                                          ("fixture", "/etc"), ("format", "..")])
def test_golden_refuses_a_produce_record_that_names_a_folder_outside(tmp_path, field, value):
    # The reproduction: artifacts/envA/../../../../../victim/h5 is a/victim/h5, a folder that exists.
    victim = tmp_path / "a" / "victim" / "h5"
    victim.mkdir(parents=True)
    (victim / "secret").write_text("x")
    work = tmp_path / "a" / "b" / "c" / "work"
    record = {"producer": "envA", "fixture": "f", "format": "h5", "verdict": "saved", field: value}
    _produced(work, "envA", [record])
    (work / "artifacts" / "envA" / "f").mkdir(parents=True)
    goldens = tmp_path / "a" / "b" / "golden"
    with pytest.raises((SpecError, OutsideWorkdir), match="refused"):
        golden.freeze("envA", work, goldens)
    assert not goldens.exists() or not any(goldens.rglob("secret"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b", "victim"]


def test_golden_refuses_an_environment_name_that_leaves_fixtures_golden(tmp_path):
    with pytest.raises((SpecError, OutsideWorkdir), match="refused"):
        golden.freeze("../escape", tmp_path / "work", tmp_path / "golden")


# --- scan: a polyglot (HDF5 with a .keras zip appended) -------------------------------------------------

def _polyglot(path: Path) -> Path:
    """A harmless HDF5 model file with a .keras zip appended whose config names ``os.system``: Keras 3 and
    Keras 2.13+ decide by the name and ``zipfile.is_zipfile``, so they load the zip."""
    import h5py

    from tests.unit.test_security_scan import os_keras

    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
        handle.attrs["keras_version"] = "2.9.0"
    zipped = os_keras(path.with_name("inner.keras"))
    path.write_bytes(path.read_bytes() + zipped.read_bytes())
    zipped.unlink()
    return path


def test_scan_looks_at_every_container_a_polyglot_is_and_judges_it_as_keras_loads_it(tmp_path):
    from harness.check.security.scan import main

    status, text = main([str(_polyglot(tmp_path / "model.keras")), "--to", "keras==3.8.0", "--format", "json"])
    found = json.loads(text)["files"][0]
    assert status == 1, text
    assert found["container"] == "zip" and found["format"] == "keras"
    kinds = {f["kind"] for f in found["findings"]}
    assert {"polyglot", "function_reference"} <= kinds
    assert found["targets"][0]["verdict"] == "runs code"


def test_a_polyglot_named_h5_is_loaded_as_hdf5_but_its_zip_is_still_named(tmp_path):
    from harness.check.security.scan import main

    status, text = main([str(_polyglot(tmp_path / "model.h5")), "--to", "keras==3.8.0", "--format", "json"])
    found = json.loads(text)["files"][0]
    assert found["container"] == "hdf5"
    assert "polyglot" in {f["kind"] for f in found["findings"]}
    assert found["targets"][0]["verdict"] == "nothing found" and status == 0


def test_check_says_a_polyglot_is_both(tmp_path):
    from harness.check.modelfile import read_model_file

    found = read_model_file(_polyglot(tmp_path / "model.keras"))
    assert found.container == "zip" and any("also an HDF5 file" in note for note in found.notes)
    found = read_model_file(_polyglot(tmp_path / "model.h5"))
    assert found.container == "hdf5" and any("also a zip archive" in note for note in found.notes)
