"""Golden artifacts: freezing a producer's artifacts, finding them again, matching their versions."""
import json

import pytest
from packaging.version import Version

from harness import ROOT
from harness.config.spec import SpecError
from harness.execute import golden


def test_the_committed_goldens_record_their_versions():
    found = golden.discover(ROOT / "fixtures" / "golden")
    assert set(found) >= {"golden-tf2.4", "golden-tf2.7"}
    assert found["golden-tf2.4"].versions() == {"tensorflow": Version("2.4.4"), "keras": Version("2.4.0"),
                                                "python": Version("3.8")}
    assert found["golden-tf2.4"].facts["python"].startswith("3.8.")
    assert all(r["producer"] == "golden-tf2.7" for r in found["golden-tf2.7"].records)
    size = sum(p.stat().st_size for p in (ROOT / "fixtures" / "golden").rglob("*") if p.is_file())
    assert size < 20e6


def test_freeze_copies_saved_artifacts_with_their_hashes(tmp_path):
    work = tmp_path / "work"
    (work / "results").mkdir(parents=True)
    records = [{"producer": "envA", "fixture": "f", "format": "h5", "verdict": "saved"},
               {"producer": "envA", "fixture": "f", "format": "savedmodel", "verdict": "unsupported"}]
    (work / "results" / "produce-envA.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (work / "results" / "produce-envA.facts.json").write_text(json.dumps({"keras": "2.9.0", "tensorflow": "2.9.3"}))
    (work / "artifacts" / "envA" / "f" / "h5").mkdir(parents=True)
    (work / "artifacts" / "envA" / "f" / "h5" / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\nbytes")
    frozen = golden.freeze("envA", work, tmp_path / "golden")
    manifest = json.loads((tmp_path / "golden" / "envA" / golden.MANIFEST).read_text())
    assert manifest["files"]["f/h5/model.h5"]["bytes"] == 13 and len(manifest["files"]["f/h5/model.h5"]["sha256"]) == 64
    assert frozen.name == "golden-envA" and len(frozen.records) == 2
    assert frozen.versions()["keras"] == Version("2.9.0")


def test_freezing_nothing_says_which_produce_to_run(tmp_path):
    with pytest.raises(SpecError, match=r"nox -s \"produce\(env='envB'\)\""):
        golden.freeze("envB", tmp_path, tmp_path / "golden")


def test_a_freeze_that_cannot_complete_leaves_the_old_golden_untouched(tmp_path):
    old = tmp_path / "golden" / "envA"
    old.mkdir(parents=True)
    (old / "irreplaceable.h5").write_bytes(b"old")
    work = tmp_path / "work"
    (work / "results").mkdir(parents=True)
    (work / "results" / "produce-envA.jsonl").write_text(
        '123\n{"producer": "envA", "fixture": "f", "format": "h5", "verdict": "saved"}\n')
    (work / "results" / "produce-envA.facts.json").write_text("{}")
    with pytest.raises(SpecError, match=r"name files that are gone .*artifacts/envA/f/h5.*left as it was"):
        golden.freeze("envA", work, tmp_path / "golden")
    assert (old / "irreplaceable.h5").read_bytes() == b"old"
    with pytest.raises(SpecError, match="no saved artifacts of fixture nope"):
        golden.freeze("envA", work, tmp_path / "golden", ["nope"])
    assert (old / "irreplaceable.h5").read_bytes() == b"old"
