"""Counts that add up: a run's summary counts cells and saves apart (a reused save is no reused cell), and
the cells it says were run are the totals its consume phases' progress lines showed."""
import json
import shutil

from harness import report
from harness.report import progress
from harness.report.results import CONTROL_LOADER
from harness.workdir import PhaseFiles, read_records
from test_expectations import RUN, _data


def _reuse(path, every: int) -> None:
    """Mark every ``every``-th record of a records file reused from an earlier run."""
    records = read_records(path)
    path.write_text("".join(json.dumps(dict(r, reused=True) if i % every == 0 else r) + "\n"
                            for i, r in enumerate(records)))


def test_the_summary_counts_cells_and_saves_apart_and_they_add_up(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    results = tmp_path / "run" / "results"
    for path in results.glob("*.jsonl"):
        _reuse(path, 3)
    data = _data(tmp_path / "run")
    line = report.summary_line(data)
    cells, saves = data.matrix_cells, data.saves
    ran = sum(c.reused is False for c in cells)
    reused = sum(c.reused is True for c in cells)
    assert f"{len(cells)} cells: " in line and f"; {len(saves)} saves: " in line
    assert f"; {ran} run, {reused} reused" in line
    assert reused <= len(cells) and sum(c.reused is True for c in saves) <= len(saves)
    # what the consume phases ran (negative controls left out) is what their progress lines counted
    shown = 0
    for path in sorted(results.glob("consume-*.jsonl")):
        records = [r for r in read_records(path) if "id" in r]
        files = PhaseFiles(tmp_path / "run", "consume", path.stem.split("-", 1)[1])
        to_run = [r for r in records if not r.get("reused")]
        with progress.phase_running(files, len(records), len(records) - len(to_run), 1, to_run):
            watched = progress.PhaseWatch(files).read()
            done, to_do, _ = watched.counts()
        assert done == to_do  # every record is written already
        shown += to_do
    assert shown == ran
    assert sum(c.reused is False and c.loader == CONTROL_LOADER for c in data.cells) > 0  # left out of both


def test_a_cell_without_a_record_of_its_own_is_neither_run_nor_reused(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    data = _data(tmp_path / "run")
    unsaved = [c for c in data.matrix_cells if "cannot write" in (c.reason or "")]
    assert unsaved and {c.reused for c in unsaved} == {None}
    assert "not loaded" in report.summary_line(data)


def test_the_golden_producers_saves_are_counted_as_golden_not_run(tmp_path):
    """The saves of a golden producer were frozen in the repository: a rerun that reuses every save of its
    environments must not say some saves were run (the quick run of 2026-12-07, tests/data/run-quick-all)."""
    from harness import cli, run
    shutil.copytree(RUN.parent / "run-quick-all", tmp_path / "run")
    for path in (tmp_path / "run" / "results").glob("produce-*.jsonl"):
        _reuse(path, 1)  # a rerun: every save of the environments reused
    ctx = run.Context.from_args(cli.last_selection(["--workdir", str(tmp_path / "run")]), parser=cli.report_parser)
    data = report.build(ctx.spec, ctx.selection, ctx.workdir)
    golden = [c for c in data.saves if c.producer in ctx.selection.goldens]
    assert ctx.selection.goldens and golden
    assert f"; 0 run, {len(data.saves) - len(golden)} reused, {len(golden)} golden (" in report.summary_line(data)
