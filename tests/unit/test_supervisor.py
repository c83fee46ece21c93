"""The supervisor turns a dying or hanging worker into one crash/timeout record per cell."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.execute.processes import Interpreter
from harness.execute.supervisor import run_phase
from harness.workdir import PhaseFiles, read_records

FAKE = Path(__file__).with_name("fake_worker.py")


def _run(tmp_path, ids, cell_timeout_s=30.0, own=None, **task):
    """Run the fake worker on cells ``ids``; ``own``: a cell's own ``timeout_s`` by id (a fixture's CELL_TIMEOUT_S)."""
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    cells = [{"id": i, "producer": "envP", "fixture": "f", "format": "h5", "loader": "load_model",
              "atol": 1e-5, "rtol": 1e-4, **({"timeout_s": own[i]} if own and i in own else {})} for i in ids]
    run_phase(files, Interpreter(sys.executable), {}, dict(task), cells, cell_timeout_s, 30.0, worker=FAKE)
    return {r["id"]: r for r in read_records(files.results) if "id" in r}, read_records(files.results)


def test_signals_cost_one_cell_each_and_the_rest_run(tmp_path):
    by_id, records = _run(tmp_path, ["a", "b-segv", "c", "d-abort", "e-exit3", "f"])
    assert len(records) == 6
    assert by_id["b-segv"]["verdict"] == "crash"
    assert "SIGSEGV" in by_id["b-segv"]["reason"]
    assert "SIGABRT" in by_id["d-abort"]["reason"]
    assert by_id["e-exit3"]["reason"] == "worker exited with status 3"
    assert [by_id[i]["verdict"] for i in "acf"] == ["pass", "pass", "pass"]
    assert by_id["b-segv"]["producer"] == "envP" and by_id["b-segv"]["consumer"] == "envA"


def test_a_hanging_cell_is_killed_and_becomes_timeout(tmp_path):
    by_id, records = _run(tmp_path, ["a", "b-hang", "c"], cell_timeout_s=1.0)
    assert by_id["b-hang"]["verdict"] == "timeout"
    assert "1 s timeout" in by_id["b-hang"]["reason"]
    assert by_id["a"]["verdict"] == by_id["c"]["verdict"] == "pass"


def test_a_cell_with_its_own_timeout_runs_past_the_default_and_the_others_do_not(tmp_path):
    by_id, _ = _run(tmp_path, ["a-slow", "b-slow", "c"], cell_timeout_s=1.0, own={"a-slow": 20.0})
    assert by_id["a-slow"]["verdict"] == "pass"  # 2 s under its fixture's 20 s
    assert by_id["b-slow"]["verdict"] == "timeout" and "its 1 s timeout" in by_id["b-slow"]["reason"]
    assert by_id["c"]["verdict"] == "pass"
    by_id, _ = _run(tmp_path, ["d-hang"], cell_timeout_s=30.0, own={"d-hang": 1.5})
    assert by_id["d-hang"]["verdict"] == "timeout" and "its 1.5 s timeout" in by_id["d-hang"]["reason"]


def test_a_worker_that_never_starts_is_one_env_error(tmp_path):
    _, records = _run(tmp_path, ["a", "b"], fail_at_start=True)
    assert len(records) == 1
    assert records[0]["verdict"] == "env-error" and records[0]["scope"] == "env"
    assert "exited with status 1" in records[0]["reason"]
    assert "numpy.core.multiarray" in records[0]["error_text"]


def test_records_already_written_are_kept_on_rerun(tmp_path):
    files = PhaseFiles(tmp_path, "consume", "envA")
    _run(tmp_path, ["a", "b-segv"])
    cells = [{"id": i, "producer": "envP", "fixture": "f", "format": "h5", "loader": "load_model",
              "atol": 0, "rtol": 0} for i in ["a", "b-segv", "c"]]
    run_phase(files, Interpreter(sys.executable), {}, {}, cells, 30.0, 30.0, worker=FAKE)  # resumes: only "c" runs
    ids = [r["id"] for r in read_records(files.results)]
    assert ids == ["a", "b-segv", "c"]


def test_sigterm_kills_the_worker_and_keeps_the_records(tmp_path):
    pid_file = tmp_path / "worker.pid"
    script = (
        "import sys; from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from harness.execute.supervisor import run_phase\n"
        "from harness.workdir import PhaseFiles\n"
        f"files = PhaseFiles(Path({str(tmp_path)!r}), 'consume', 'envA'); files.reset()\n"
        "cells = [{'id': i, 'producer': 'p', 'fixture': 'f', 'format': 'h5', 'loader': 'load_model',"
        " 'atol': 0, 'rtol': 0} for i in ('a', 'b-hang')]\n"
        "from harness.execute.processes import Interpreter\n"
        f"run_phase(files, Interpreter(sys.executable), {{}}, {{'pid_file': {str(pid_file)!r}}}, cells, 600, 60,"
        f" worker=Path({str(FAKE)!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", script])
    results = tmp_path / "results" / "consume-envA.jsonl"
    deadline = time.monotonic() + 30
    while not (results.exists() and results.read_text().count("\n") == 1) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    worker = int(pid_file.read_text())
    time.sleep(0.2)
    try:
        os.kill(worker, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    assert [r["id"] for r in read_records(results)] == ["a"]


def test_the_phase_records_when_it_ended_for_the_reports_wall_time(tmp_path):
    before = time.time()
    _run(tmp_path, ["a", "b"])
    stats = json.loads(PhaseFiles(tmp_path, "consume", "envA").stats.read_text())
    assert before <= stats["ended"] <= time.time() and stats["seconds"] <= stats["ended"] - before + 1
