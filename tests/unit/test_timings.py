"""Where a worker's seconds go: the per-step stopwatch of the worker and bench.py's sums of it."""
import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "harness" / "worker"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402
from timing import Stopwatch  # noqa: E402  (harness/worker/timing.py, run inside environments)


def test_stopwatch_sums_each_step_and_times_a_step_that_raises():
    watch = Stopwatch()
    with watch.step("load"):
        time.sleep(0.02)
    with watch.step("load"):
        time.sleep(0.02)
    with pytest.raises(ValueError):
        with watch.step("predict"):
            time.sleep(0.01)
            raise ValueError("the model did not predict")
    timings = watch.as_record()
    assert sorted(timings) == ["load", "predict"]
    assert 0.04 <= timings["load"] < 1 and 0.01 <= timings["predict"] < timings["load"]


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_bench_sums_steps_per_phase_format_loader_and_imports_once_per_process(tmp_path):
    results = tmp_path / "results"
    load = {"phase": "consume", "format": "h5", "loader": "load_model", "worker_import_s": 9.5}
    _write(results / "consume-a.jsonl", [
        dict(load, seconds=2.0, timings={"load": 1.0, "predict": 0.5, "levels": 0.25}, worker_pid=1),
        dict(load, seconds=1.0, timings={"load": 0.5, "predict": 0.25}, worker_pid=1),
        dict(load, seconds=5.0, timings={"load": 4.0}, reused=True, worker_pid=1),  # an earlier run's
        dict(load, seconds=3.0, verdict="crash", worker_pid=1),  # no timings: the worker died in it
    ])
    _write(results / "consume-a.shard2.jsonl", [  # a second shard of the same phase: its own process
        {"phase": "consume", "format": "control", "loader": "rebuild", "seconds": 1.0, "worker_pid": 2,
         "worker_import_s": 8.0, "timings": {"control": 0.5, "predict": 0.25}}])
    _write(results / "produce-a.jsonl", [
        {"phase": "produce", "format": "h5", "seconds": 3.0, "worker_pid": 3, "worker_import_s": 10.0,
         "timings": {"build": 2.5, "save": 0.5}}])
    rows, import_s, workers = bench.worker_timings(results)
    headers = ["phase", "format", "loader", "cells", "seconds", *bench.STEPS, "other"]
    table = {tuple(row[:3]): dict(zip(headers[3:], row[3:], strict=True)) for row in rows}
    assert table[("consume", "h5", "load_model")] == dict(
        cells=2, seconds=3.0, build=0, save=0, verify=0, load=1.5, control=0, predict=0.8, compare=0, changes=0,
        levels=0.2, other=0.5)  # 0.75 and 0.25 rounded to one decimal
    assert table[("consume", "control", "rebuild")]["control"] == 0.5
    assert table[("produce", "h5", "-")]["build"] == 2.5
    assert table[("all", "", "")]["cells"] == 4 and table[("all", "", "")]["seconds"] == 7.0
    assert (import_s, workers) == (27.5, 3)
