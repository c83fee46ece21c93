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
