"""The progress display: its lines, its time left, its failures so far, fed by a running phase's files."""
import io
import json
import re
import shutil
import sys
import time
from pathlib import Path

from harness import run
from harness.execute.processes import Interpreter
from harness.execute.supervisor import run_phase
from harness.report import progress
from harness.report.display import Display, choose_display, watch_in_background
from harness.report.progress import PhaseProgress, RecordTally, failure_name
from harness.workdir import PhaseFiles, read_records

FAKE = Path(__file__).with_name("fake_worker.py")


def test_the_display_follows_the_terminal_nox_and_quiet():
    assert choose_display(quiet=False, stdout_tty=True, under_parallel_nox=False, nox_tty=True) == "live"
    assert choose_display(quiet=False, stdout_tty=False, under_parallel_nox=False, nox_tty=False) == "lines"
    # under nox -j the session's stdout is nox's pipe: nox's terminal board shows its \r lines ...
    assert choose_display(quiet=False, stdout_tty=False, under_parallel_nox=True, nox_tty=True) == "board"
    # ... and without a terminal nox prints a session's output only as it ends: the parent prints instead
    assert choose_display(quiet=False, stdout_tty=False, under_parallel_nox=True, nox_tty=False) == "off"
    assert choose_display(quiet=True, stdout_tty=True, under_parallel_nox=False, nox_tty=True) == "off"


def test_time_left_follows_the_pace_of_the_cells_run_in_this_run():
    p = PhaseProgress("consume", "tf2.15", total=100, started=1000.0, done=0)
    assert p.left_s(1010.0) is None  # nothing ran yet: no pace to go by
    p.done, p.reused = 40, 20  # 20 reused (instant), 20 run in 60 s: 3 s a cell, 60 cells left
    assert p.left_s(1060.0) == 180.0
    p.done = 100
    assert p.left_s(1100.0) == 0.0
    p.done, p.reused = 20, 20  # only reused so far: still estimating
    assert p.left_s(1010.0) is None
    # where records say their own seconds, the pace leaves out the worker's start (importing TensorFlow)
    p = PhaseProgress("consume", "tf2.15", total=100, started=1000.0, shards=2, done=10, cell_s=20.0)
    assert p.left_s(1100.0) == 90 * 2.0 / 2  # 90 cells of 2 s each, on two workers at once


def test_time_left_paces_each_kind_of_cell_on_its_own():
    # 20 cells to run: 10 of a kind that takes 1 s, 10 of a kind that takes 10 s; 5 and 1 of them done
    p = PhaseProgress("consume", "tf2.15", total=25, started=0.0, reused=5, done=11, cell_s=15.0,
                      kinds={"f|h5|load_model": 10, "g|h5|load_model": 10},
                      by_kind={"f|h5|load_model": [5, 5, 5.0], "g|h5|load_model": [1, 1, 10.0]})
    assert p.left_s(100.0) == 5 * 1.0 + 9 * 10.0  # the mean of all cells so far would say 14 x 2.5 s = 35 s
    p.shards = 2
    assert p.left_s(100.0) == (5 * 1.0 + 9 * 10.0) / 2
    # a kind not run yet goes at the mean of every cell so far (15 s over 6 cells); a crash (no seconds)
    # counts as run but not as timed
    p = PhaseProgress("consume", "tf2.15", total=20, started=0.0, done=6, cell_s=15.0,
                      kinds={"f|h5|load_model": 10, "g|h5|load_model": 10},
                      by_kind={"f|h5|load_model": [6, 5, 15.0]})
    assert p.left_s(100.0) == 4 * 3.0 + 10 * 2.5


def test_time_left_goes_by_the_seconds_of_the_last_run_at_this_runs_pace():
    last = {f"c{i}": float(i) for i in range(1, 11)}  # when the phase last ran: 1 s to 10 s, 55 s in all
    ran = {f"c{i}": 2.0 * i for i in range(1, 6)}  # this run: five cells done, each twice as slow
    p = PhaseProgress("consume", "tf2.15", total=12, started=0.0, done=5, cell_s=30.0, last=last, ran=ran)
    assert p.left_s(100.0) == 2.0 * (6 + 7 + 8 + 9 + 10) + 2 * 6.0  # c11, c12 ran never: the mean, 6 s
    p.ran = dict(list(ran.items())[:4])  # fewer than LAST_RUN_PAIRS cells to compare: one pace for all
    p.done, p.cell_s = 4, 20.0
    assert p.left_s(100.0) == 8 * 5.0


def test_the_tally_keeps_each_kinds_pace_and_the_status_each_kinds_count(tmp_path):
    path = tmp_path / "r.jsonl"
    cell = {"phase": "consume", "fixture": "f", "format": "h5", "loader": "load_model", "verdict": "pass"}
    path.write_text("".join(json.dumps(r) + "\n" for r in (
        dict(cell, id="a", seconds=2.0), dict(cell, id="b", seconds=4.0), dict(cell, id="c", seconds=9.0, reused=True),
        dict(cell, id="d", verdict="crash"), dict(cell, id="e", format="keras", seconds=1.0))))
    tally = RecordTally()
    tally.update([path])
    assert tally.by_kind == {"f|h5|load_model": [3, 2, 6.0], "f|keras|load_model": [1, 1, 1.0]}  # reused left out
    assert tally.ran == {"a": 2.0, "b": 4.0, "d": None, "e": 1.0}
    files = PhaseFiles(tmp_path, "produce", "envA")
    files.reset()
    cells = [{"id": f"{f}-{fmt}", "fixture": f, "format": fmt} for f in ("f", "g") for fmt in ("h5", "keras")]
    with progress.phase_running(files, 5, 1, 1, cells, {"f-h5": 3.5, "x-h5": 9.0}) as widened:
        watched = progress.PhaseWatch(files).read()
        assert watched.last == {"f-h5": 3.5}  # the seconds of the cells it will run
        widened(2)  # the phase took a second worker: its time left is shared by two
        assert progress.PhaseWatch(files).read().shards == 2
    assert watched.kinds == {"h5": 2, "keras": 2}  # a producer saves each fixture once: paced by format


def test_a_line_counts_cells_names_three_failures_and_says_time_left():
    p = PhaseProgress("consume", "tf2.15", total=420, started=0.0, shards=2, done=120, expected=7,
                      failures=[f"load-error p{i}>tf2.15 dense_bn h5/load_model" for i in range(5)])
    assert p.line(now=65.0) == (
        "consume tf2.15 (2 workers): 120/420 cells (28%), 12 failing so far: 5 unexplained (load-error "
        "p0>tf2.15 dense_bn h5/load_model; load-error p1>tf2.15 dense_bn h5/load_model; load-error p2>tf2.15 "
        "dense_bn h5/load_model; and 2 more), 7 expected; about 2 min 42 s left")
    assert p.short(now=65.0) == "120/420 cells (28%), about 2 min 42 s left, 12 failing so far: 5 unexplained, " \
        "7 expected"
    p.failures = []
    assert ", 7 failing so far, all as expected; about" in p.line(now=65.0)
    assert p.short(now=65.0) == "120/420 cells (28%), about 2 min 42 s left, 7 failing so far, all as expected"
    quiet = PhaseProgress("produce", "tf2.16", total=9, started=0.0, done=0)
    assert quiet.line(now=5.0) == "produce tf2.16: 0/9 saves (0%), none failing so far; 5 s elapsed"
    quiet.done, quiet.finished = 9, 3725.0
    assert quiet.line(now=4000.0) == "produce tf2.16: 9/9 saves (100%), none failing so far; done in 1 h 02 min"


def test_every_display_says_the_same_words():
    from harness.report.display import _live_table
    from rich.console import Console
    p = PhaseProgress("consume", "tf2.15", total=10, started=0.0, done=4, expected=2)
    stream = io.StringIO()
    Console(file=stream, width=200).print(_live_table([p], now=8.0))
    for words in ("4/10 cells (40%)", "2 failing so far, all as expected", p.time_left(8.0)):
        assert words in p.line(8.0) and words in p.short(8.0) and words in stream.getvalue()


def test_reused_cells_are_no_done_work_and_controls_are_no_cells():
    # 100 records: 60 reused (10 of them controls), 40 to run (4 of them controls); 12 run so far (1 control)
    p = PhaseProgress("consume", "tf2.15", total=100, started=0.0, done=72, reused=60, reused_controls=10,
                      controls=4, controls_done=1, cell_s=24.0)
    assert p.counts() == (11, 36, 50)
    assert p.line(60.0).startswith("consume tf2.15: 11/36 cells (30%), 50 reused, none failing so far; about ")
    assert p.left_s(60.0) == 28 * 2.0  # 28 left at the 2 s of each of the 12 run: the reused ones pace nothing


def test_time_left_shows_elapsed_and_pace_until_an_estimate_is_worth_showing_then_finishing():
    p = PhaseProgress("consume", "tf2.15", total=40, started=0.0, done=0)
    assert p.time_left(12.0) == "12 s elapsed"  # nothing run: no pace yet
    p.done, p.cell_s = 2, 10.0  # two cells (the first imported TensorFlow): too few to go by
    assert p.time_left(40.0) == "40 s elapsed, 0.05 cells/s"
    p.done, p.cell_s = 3, 12.0  # three, but under a tenth of the 40
    assert "elapsed" in p.time_left(45.0)
    p.done, p.cell_s = 4, 16.0
    assert p.time_left(50.0) == "about 2 min 24 s left"
    p.done = 40  # every cell recorded, the workers not yet stopped
    assert p.time_left(200.0) == "finishing"
    p.finished = 210.0
    assert p.time_left(300.0) == "done in 3 min 30 s"
    # reused cells do not make an estimate worth showing
    p = PhaseProgress("consume", "tf2.15", total=100, started=0.0, done=95, reused=94, cell_s=5.0)
    assert p.time_left(20.0) == "20 s elapsed, 0.05 cells/s"


def test_what_counts_as_failing_before_the_report_applies_expected_failures():
    cell = {"phase": "consume", "producer": "a", "consumer": "b", "fixture": "f", "format": "h5",
            "loader": "load_model"}
    assert failure_name(dict(cell, verdict="load-error")) == "load-error a>b f h5/load_model"
    for verdict in ("pass", "unsupported", "skipped"):
        assert failure_name(dict(cell, verdict=verdict)) is None
    control = dict(cell, format="negative-control", loader="rebuild")
    assert failure_name(dict(control, verdict="mismatch")) is None  # a control must mismatch
    assert failure_name(dict(control, verdict="pass")) == "negative control passed a>b f negative-control/rebuild"
    produce = {"phase": "produce", "producer": "a", "fixture": "f", "format": "keras"}
    assert failure_name(dict(produce, verdict="saved")) is None
    assert failure_name(dict(produce, verdict="save-error")) == "save-error a f keras"
    assert failure_name({"scope": "env", "consumer": "b", "verdict": "env-error", "reason": "no python3.7"}) \
        == "env-error b: no python3.7"
    assert failure_name({"scope": "env", "consumer": "b", "verdict": "skipped", "reason": "no GPU"}) is None


def test_the_tally_reads_each_record_once_and_waits_for_a_line_to_end(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"id": "a", "verdict": "pass"}) + "\n" + '{"id": "b", "verd')
    tally = RecordTally()
    tally.update([path, tmp_path / "missing.jsonl"])
    assert (tally.done, tally.failures) == (1, [])
    with open(path, "a") as handle:
        handle.write('ict": "crash", "phase": "consume", "producer": "p", "consumer": "c", "fixture": "f", '
                     '"format": "h5", "loader": "load_model"}\n' + json.dumps({"id": "c", "reused": True}) + "\n")
    tally.update([path])
    tally.update([path])
    assert (tally.done, tally.reused, tally.failures) == (3, 1, ["crash p>c f h5/load_model"])


def _cells(ids):
    return [{"id": i, "producer": "envP", "fixture": "f", "format": "h5", "loader": "load_model",
             "atol": 0, "rtol": 0} for i in ids]


def test_a_phase_run_with_the_fake_worker_prints_plain_lines_as_it_goes(tmp_path):
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    stream = io.StringIO()
    cells = _cells(["a", "b-segv", "c-hang", "d"])
    with Display(files, "lines", stream, every_s=0.2), progress.phase_running(files, len(cells), 0, 1):
        run_phase(files, Interpreter(sys.executable), {}, {}, cells, 1.5, 30.0, worker=FAKE)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3  # some while the hanging cell waits for its timeout, and the last
    assert all(re.match(r"progress \d\d:\d\d:\d\d consume envA: \d/4 cells", line) for line in lines)
    assert any(" 2/4 cells" in line for line in lines[:-1])  # seen while c-hang ran
    assert lines[-1].endswith("4/4 cells (100%), 2 failing so far: 2 unexplained (crash envP>envA f h5/load_model; "
                              "timeout envP>envA f h5/load_model); done in " + lines[-1].split("done in ")[1])
    status = json.loads(files.status.read_text())
    assert status["finished"] >= status["started"] and status["total"] == 4


def test_board_lines_end_in_a_carriage_return_and_quiet_prints_nothing(tmp_path):
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    for display, expected in (("board", "\r"), ("off", None)):
        stream = io.StringIO()
        with Display(files, display, stream, every_s=0.05), progress.phase_running(files, 2, 0, 1):
            run_phase(files, Interpreter(sys.executable), {}, {}, _cells(["a", "b-hang"]), 0.5, 30.0, worker=FAKE)
        if expected is None:
            assert stream.getvalue() == ""
        else:
            assert "\r" in stream.getvalue() and stream.getvalue().endswith("\n")
        files.reset()


def test_the_parent_nox_process_prints_every_running_phase_and_each_end_once(tmp_path):
    stream = io.StringIO()
    watch_in_background(tmp_path, stream, every_s=0.05)
    time.sleep(0.1)
    a, b = PhaseFiles(tmp_path, "produce", "envA"), PhaseFiles(tmp_path, "produce", "envB")
    for files in (a, b):
        files.reset()
    with progress.phase_running(a, 2, 0, 1):
        with progress.phase_running(b, 1, 0, 1):
            (a.results).write_text(json.dumps({"id": "x", "verdict": "saved"}) + "\n")
            time.sleep(0.3)
        time.sleep(0.3)
    time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert any("produce envA: 1/2 saves" in line for line in lines)
    assert any("produce envB: 0/1 saves" in line for line in lines)
    assert sum("produce envB" in line and "done in" in line for line in lines) == 1
    assert sum("produce envA" in line and "done in" in line for line in lines) == 1
    assert "done in" in [line for line in lines if "envA" in line][-1]


def test_only_the_nox_process_of_a_parallel_run_without_terminal_watches(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("NOX_PARALLEL", raising=False)
    argv = ["nox", "-j", "2", "-s", "matrix", "--", "--profile", "quick", "--workdir", str(tmp_path)]
    assert run.watched_run(argv).workdir == tmp_path.resolve()  # pytest's stdout is no terminal
    assert run.watched_run(argv + ["--quiet"]) is None
    assert run.watched_run(argv + ["--envs", "nosuch"]) is None  # the session says what is wrong
    assert run.watched_run(["nox", "-j", "2", "-s", "check", "--", "model.keras"]) is None
    assert run.watched_run(["nox", "-s", "matrix", "--", "--workdir", str(tmp_path)]) is None
    assert run.watched_run(["nox", "--parallel-worker", "-s", "x", "--", "--workdir", str(tmp_path)]) is None
    assert capsys.readouterr().err == ""  # arguments that are not a run's are the session's to report


def test_failures_expected_failures_explains_are_counted_not_named_as_the_report_will(tmp_path):
    from test_expectations import RUN, RUN_DATE, _context, _data
    shutil.copytree(RUN, tmp_path / "run")
    ctx = _context(tmp_path / "run")
    explained = progress.explainer(ctx.selection, RUN_DATE)
    reported = {c.id: c.verdict for c in _data(tmp_path / "run").cells}
    files = PhaseFiles(tmp_path / "run", "consume", "tf2.15")
    records = [r for r in read_records(files.results) if "id" in r]
    assert {r["id"] for r in records if explained(r)} == {r["id"] for r in records if reported[r["id"]] == "xfail"}
    tally = RecordTally(explained)
    tally.update([files.results])
    assert tally.expected == sum(reported[r["id"]] == "xfail" for r in records) > 0
    assert len(tally.failures) == sum(reported[r["id"]] in ("mismatch", "load-error", "crash", "timeout")
                                      for r in records if r["loader"] != "rebuild")  # a control must mismatch
    assert not explained({"phase": "produce", "producer": "tf2.15", "verdict": "save-error"})  # no cell's record
    # a failed save as the worker records it (tf2.15, 2026-12-01): its phase: produce entry explains it
    save = {"phase": "produce", "producer": "tf2.15", "fixture": "subclassed", "format": "h5",
            "id": "tf2.15/subclassed/h5", "verdict": "save-error", "error_type": "NotImplementedError",
            "error_message": "Saving the model to HDF5 format requires the model to be a Functional model or a "
                             "Sequential model. It does not work for subclassed models"}
    assert explained(save) and not explained(dict(save, fixture="dense_bn", id="tf2.15/dense_bn/h5"))
    assert not explained(dict(save, error_message="Unable to synchronously create file"))  # not what it expects
    none = _context(tmp_path / "run", entries=[])  # no entries
    unexplained = RecordTally(progress.explainer(none.selection, RUN_DATE))
    unexplained.update([files.results])
    assert unexplained.expected == 0 and len(unexplained.failures) == tally.expected + len(tally.failures)


def test_the_live_display_draws_a_bar_counts_and_failures(tmp_path):
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    stream = io.StringIO()
    with Display(files, "live", stream, every_s=0.05), progress.phase_running(files, 3, 0, 1):
        run_phase(files, Interpreter(sys.executable), {}, {}, _cells(["a", "b-segv", "c"]), 30.0, 30.0, worker=FAKE)
    shown = stream.getvalue()
    assert "consume envA" in shown and "3/3" in shown and "1 unexplained" in shown and "done in" in shown
    assert "crash envP>envA f h5/load_model" in shown and "━" in shown  # the bar
