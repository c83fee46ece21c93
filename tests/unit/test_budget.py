"""--budget: a phase stops starting cells when the run's budget is nearly spent, keeps every record it
made, and the next run carries on with the cells left, none run twice (harness/execute/budget.py)."""
import json
import sys
import time
from pathlib import Path

import pytest

from harness.execute import budget, incremental
from harness.execute.processes import Interpreter
from harness.execute.supervisor import run_phase
from harness.report import freshness
from harness.workdir import PhaseFiles, read_records

FAKE = Path(__file__).with_name("fake_worker.py")
CELLS = [{"id": f"c{i}", "producer": "envP", "fixture": "f", "format": "h5", "loader": "load_model",
          "atol": 0, "rtol": 0, "key": f"k{i}"} for i in range(8)]


def _phase(tmp_path, deadline, cells=CELLS, reset=True):
    files = PhaseFiles(tmp_path, "consume", "envA")
    if reset:
        files.reset()
    left = run_phase(files, Interpreter(sys.executable), {}, {"cell_s": 0.25}, cells, 30.0, 30.0, worker=FAKE,
                     deadline=deadline)
    return files, left


def test_a_spent_budget_starts_no_worker_and_leaves_every_cell(tmp_path):
    files, left = _phase(tmp_path, time.time() - 1)
    assert left == CELLS and read_records(files.results) == []


def test_a_budget_spent_midway_stops_between_cells_and_the_next_run_does_the_rest_once(tmp_path):
    files, left = _phase(tmp_path, time.time() + 0.9)
    first = [r["id"] for r in read_records(files.results)]
    # Stopped between cells: every record is a pass (no crash, no timeout), and they and the cells left
    # are the selection, each once.
    assert 0 < len(first) < len(CELLS) and {r["verdict"] for r in read_records(files.results)} == {"pass"}
    assert first + [c["id"] for c in left] == [c["id"] for c in CELLS]
    # The next run: archive, reset, reuse what has a record, run the rest.
    assert incremental.archive(files) == len(first)
    files.reset()
    rest = incremental.reuse(files, CELLS)
    assert [c["id"] for c in rest] == [c["id"] for c in left]
    files, left = _phase(tmp_path, None, rest, reset=False)
    records = read_records(files.results)
    assert left == [] and sorted(r["id"] for r in records) == sorted(c["id"] for c in CELLS)
    reused = {r["id"] for r in records if r.get("reused")}
    assert reused == set(first)
    # A worker ran each cell once: the reused ones in the first run's worker, the rest in the second's.
    assert len({r["worker_pid"] for r in records if r["id"] in reused}) == 1
    assert not {r["worker_pid"] for r in records if r["id"] in reused} & \
        {r["worker_pid"] for r in records if r["id"] not in reused}


def test_archived_records_keep_when_they_first_ran(tmp_path):
    files, _ = _phase(tmp_path, None, CELLS[:2])
    incremental.archive(files)
    stamped = json.loads(files.cache.read_text())
    first = {r["id"]: r["recorded_at"] for r in stamped.values()}
    assert all(abs(t - time.time()) < 60 for t in first.values())
    files.reset()
    incremental.reuse(files, CELLS[:2])
    time.sleep(0.01)
    incremental.archive(files)  # the reused records keep their own time
    assert {r["id"]: r["recorded_at"] for r in json.loads(files.cache.read_text()).values()} == first


def test_the_deadline_counts_from_the_runs_start_less_the_margin(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"started": 1000.0}))
    assert budget.deadline(tmp_path, 600) == 1000.0 + 600 - budget.MARGIN_S
    assert budget.deadline(tmp_path, None) is None
    (tmp_path / "run.json").write_text(json.dumps({"started": "yesterday"}))
    assert budget.deadline(tmp_path, 600) is None
    assert budget.spent(5.0, now=5.0) and not budget.spent(5.0, now=4.9) and not budget.spent(None)


@pytest.mark.parametrize("seconds, said", [(None, "never"), (40, "40 s"), (720, "12 min"), (18000, "5.0 h"),
                                           (3 * 86400, "3.0 days")])
def test_ages_read_as_people_say_them(seconds, said):
    assert freshness.human(seconds) == said


def test_the_summary_says_how_much_is_filled_what_never_ran_and_the_oldest_part():
    parts = [freshness.Part("produce", "a", 3, 0.0, 10.0), freshness.Part("consume", "a", 5, 3600.0, 7000.0),
             freshness.Part("consume", "b", 0, None, None)]
    assert freshness.summary(8, 12, parts, now=7200.0) == [
        "filled: 8 of 12 cells (67%)", "not run yet: consume b",
        "oldest records: produce a, 2.0 h old; newest: consume a, 3 min old"]


def test_a_budget_of_a_minute_or_less_is_one_error():
    from harness import run
    from harness.config.spec import SpecError
    with pytest.raises(SpecError, match=r"--budget 30: give more than 60 seconds"):
        run.Context.from_args(["--budget", "30"])


def test_cells_a_budgeted_run_left_are_not_filled_yet_not_a_failure(tmp_path):
    from test_expectation_keys import _copy, _data
    workdir = _copy(tmp_path, "run-default-2026-12-07")
    (workdir / "results" / "consume-tf2.15.jsonl").unlink()  # the budget ran out before this column
    data = _data(workdir)
    assert data.missing and data.problems()[-1].startswith(f"{len(data.missing)} cells have no result")
    data.budgeted = True
    assert data.problems() == []
    filled = len(data.matrix_cells) - len(data.missing)
    assert freshness.summary(filled, len(data.matrix_cells), freshness.parts(data.selection, workdir))[:2] == [
        f"filled: {filled} of {len(data.matrix_cells)} cells (88%)", "not run yet: consume tf2.15"]


def test_a_control_a_budgeted_run_stopped_before_waits_for_the_next_run(tmp_path):
    from test_expectation_keys import _copy, _data
    workdir = _copy(tmp_path, "run-default-2026-12-07")
    path = workdir / "results" / "consume-tf2.15.jsonl"
    # Stopped between cells: the comparisons ran, their negative controls not yet (as a run stopped on
    # 2026-12-07 left keras3.12-jax's subclassed control of tf2.21-keras3.15's artifacts).
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()
                            if json.loads(line)["format"] != "negative-control"))
    data = _data(workdir)
    assert data.broken_controls and "negative controls errored or did not run" in data.problems()[0]
    data.budgeted = True
    assert data.broken_controls == [] and data.problems() == []
