"""JSON nested too deeply for Python (100,000 ``[``), or a FIFO, as a --compare file or a trend input: one line,
and a trend leaves that one file out instead of aborting."""

import os
import shutil
from pathlib import Path

import pytest

from harness.report import results_file, trend

HISTORY = Path(__file__).resolve().parents[1] / "data" / "history"
DEEP = "[" * 100_000


def test_a_deeply_nested_compare_file_is_one_line(tmp_path):
    (tmp_path / "prev.json").write_text(DEEP)
    with pytest.raises(results_file.HistoryError,
                       match=r"--compare .*prev.json: not JSON \(nested too deeply to read\)"):
        results_file.read_results(tmp_path / "prev.json")


def test_a_fifo_as_compare_file_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "prev.json")
    with pytest.raises(results_file.HistoryError, match=r"named pipe \(FIFO\)"):
        results_file.read_results(tmp_path / "prev.json")


def test_a_deeply_nested_trend_input_is_left_out(tmp_path):
    nights = tmp_path / "nights"
    shutil.copytree(HISTORY, nights)
    (nights / "zz-deep.json").write_text(DEEP)
    lines = []
    written = trend.main([str(nights), "--out", str(tmp_path / "out") + "/"], log=lines.append)
    assert [p.name for p in written] == ["trend.html", "trend.md"]
    assert any(
        line.startswith(f"left out {nights / 'zz-deep.json'}: not a readable JSON file (nested too deeply")
        for line in lines
    )


def test_a_record_line_nested_too_deeply_is_skipped_like_any_torn_line(tmp_path):
    from harness.workdir import read_records

    (tmp_path / "consume-x.jsonl").write_text(DEEP + "\n" + '{"id": "a", "verdict": "pass"}\n')
    assert read_records(tmp_path / "consume-x.jsonl") == [{"id": "a", "verdict": "pass"}]


def test_a_lock_file_nested_too_deeply_is_one_spec_error(tmp_path):
    from harness.config import spec

    (tmp_path / "matrix.yaml").write_text(
        "envs: {tf2.15: {python: '3.11', packages: ['tensorflow-cpu==2.15.1']}}\n"
        "templates:\n  t: {name: 't{release}', packages: ['keras>=3']}\n"
        "profiles: {default: {envs: [tf2.15, t]}}\n"
    )
    (tmp_path / "matrix.lock.json").write_text(DEEP)
    with pytest.raises(spec.SpecError) as caught:
        spec.load(tmp_path / "matrix.yaml")
    assert "\n" not in str(caught.value) and "matrix.lock.json" in str(caught.value)
