"""Merging CI jobs' work dirs: the records of a real default-profile run (tests/data/run-default),
split into one folder per job as the nightly workflow leaves them, merge back into the same report."""
import json
import shutil
from pathlib import Path

import pytest

from harness import cli, report, run
from harness.ci import merge
from harness.config.matrix_yaml import matrix_path, matrix_sha256
from harness.workdir import JOB_FOLDERS, PHASE_FILE, PhaseFiles

RUN = Path(__file__).resolve().parent.parent / "data" / "run-default"
ENVS = json.loads((RUN / "run.json").read_text())["envs"]


def _split(tmp_path: Path, run_json: dict | None = None) -> list[Path]:
    """One folder per phase of each environment, each with the run's run.json and that phase's files."""
    dirs = []
    for env in ENVS:
        for phase in merge.PHASES:
            job = tmp_path / "jobs" / f"{phase}-{env}"
            (job / "results").mkdir(parents=True)
            planned = run_json or dict(json.loads((RUN / "run.json").read_text()),
                                       matrix_sha256=matrix_sha256(matrix_path()))
            (job / "run.json").write_text(json.dumps(planned))
            for path in (RUN / "results").glob(f"{phase}-{env}.*"):
                shutil.copy2(path, job / "results" / path.name)
            dirs.append(job)
    return dirs


def _report_json(workdir: Path, reports: Path) -> dict:
    """results.json of the run in ``workdir``, rendered as nox -s report would (its run.json's selection)."""
    ctx = run.Context.from_args(cli.last_selection(["--workdir", str(workdir), "--reports", str(reports)]))
    run.report(ctx, log=lambda line: None)
    data = json.loads((reports / "results.json").read_text())
    data.pop("run")
    data.pop("wall_s")
    return data


def test_merged_jobs_report_exactly_what_the_single_run_does(tmp_path):
    single = _report_json(RUN, tmp_path / "single")
    lines = []
    report_args = run.merge([str(d) for d in _split(tmp_path)] + ["--workdir", str(tmp_path / "merged"),
                                                                   "--reports", str(tmp_path / "reports")],
                            log=lines.append)
    assert report_args[report_args.index("--workdir") + 1] == str(tmp_path / "merged")
    assert _report_json(tmp_path / "merged", tmp_path / "reports") == single
    assert (tmp_path / "single" / "matrix.md").read_text().split("\n", 3)[3] == \
        (tmp_path / "reports" / "matrix.md").read_text().split("\n", 3)[3]  # all but the wall-time line
    assert lines == [f"merged 12 job folders into {tmp_path / 'merged'}: 36 files"]
    merged = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert merged["envs"] == ENVS and len(merged["merged_from"]) == 12


def test_a_file_from_two_jobs_is_taken_once_when_equal_and_refused_when_not(tmp_path):
    dirs = _split(tmp_path)
    consumer = tmp_path / "jobs" / "consume-tf2.15"
    # A consumer job that kept the producer records it downloaded: the same bytes, taken once.
    shutil.copy2(RUN / "results" / "produce-tf2.10.jsonl", consumer / "results")
    merge.gather(dirs, tmp_path / "merged", log=lambda line: None)
    with open(consumer / "results" / "produce-tf2.10.jsonl", "a") as handle:
        handle.write('{"phase": "produce", "verdict": "saved"}\n')
    with pytest.raises(merge.MergeError, match=r"produce-tf2.10.jsonl and .*consume-tf2.15/results/"
                                               r"produce-tf2.10.jsonl differ: two jobs ran the same phase"):
        merge.gather(dirs, tmp_path / "merged2", log=lambda line: None)


def test_jobs_planned_differently_are_refused(tmp_path):
    dirs = _split(tmp_path)
    other = json.loads((RUN / "run.json").read_text())
    other["fixtures"] = ["dense_bn"]
    (dirs[3] / "run.json").write_text(json.dumps(other))
    with pytest.raises(merge.MergeError, match=r"were planned differently \(fixtures: "):
        merge.gather(dirs, tmp_path / "merged", log=lambda line: None)
    for job in dirs:
        (job / "run.json").write_text(json.dumps(dict(other, fixtures=json.loads(
            (RUN / "run.json").read_text())["fixtures"], matrix_sha256="a" * 64)))
    with pytest.raises(merge.MergeError, match="planned from another matrix.yaml than this checkout's"):
        merge.gather(dirs, tmp_path / "merged", matrix_sha256="b" * 64, log=lambda line: None)
    merge.gather(dirs, tmp_path / "merged", matrix_sha256="a" * 64, log=lambda line: None)


def test_a_folder_without_run_json_or_with_a_foreign_environment_is_refused(tmp_path):
    dirs = _split(tmp_path)
    (dirs[0] / "run.json").unlink()
    with pytest.raises(merge.MergeError, match=r"produce-tf2.10: no run.json; every job runs `nox -s plan`"):
        merge.gather(dirs, tmp_path / "merged", log=lambda line: None)
    with pytest.raises(merge.MergeError, match="nope: no such folder"):
        merge.gather([tmp_path / "nope"], tmp_path / "merged", log=lambda line: None)
    dirs = _split(tmp_path / "again")
    (dirs[1] / "results" / "consume-tf2.99.jsonl").write_text("{}\n")
    with pytest.raises(merge.MergeError, match=r"consume-tf2.99.jsonl: environment 'tf2.99' is not in the "
                                               r"run's selection"):
        merge.gather(dirs, tmp_path / "merged", log=lambda line: None)
    with pytest.raises(merge.MergeError, match="is one of the job folders"):
        merge.gather(dirs, dirs[0], log=lambda line: None)
    with pytest.raises(merge.MergeError, match="no job folders given"):
        merge.gather([], tmp_path / "merged", log=lambda line: None)


def test_a_missing_job_is_named_and_its_cells_fail_the_report(tmp_path):
    dirs = [d for d in _split(tmp_path) if d.name != "consume-tf2.13"]
    lines = []
    args = run.merge([str(d) for d in dirs] + ["--workdir", str(tmp_path / "merged"),
                                               "--reports", str(tmp_path / "reports")], log=lines.append)
    assert lines[-1] == "no results of consume(env='tf2.13') (their jobs failed, or their folders were not given)"
    problems = run.report(run.Context.from_args(args), log=lambda line: None)
    assert any("cells have no result" in p for p in problems)


def test_merging_again_forgets_what_the_work_dir_held(tmp_path):
    dirs = _split(tmp_path)
    stale = tmp_path / "merged" / "results" / "consume-tf2.15.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"stale": true}\n')
    merge.gather([d for d in dirs if d.name != "consume-tf2.15"], tmp_path / "merged", log=lambda line: None)
    assert not stale.exists()
    data = report.build(*_selection(tmp_path / "merged"), tmp_path / "merged")
    assert data.missing and {c.consumer for c in data.missing} == {"tf2.15"}


def _selection(workdir: Path):
    ctx = run.Context.from_args(cli.last_selection(["--workdir", str(workdir)]))
    return ctx.spec, ctx.selection



def test_what_a_job_hands_on_is_what_its_phases_write_and_nothing_else(tmp_path):
    files = PhaseFiles(tmp_path, "consume", "tf2.16-keras3.3")
    handed_on = [files.results, files.facts, files.stats, files.log, files.sharded(2).results, files.sharded(2).log]
    for path in handed_on:
        match = PHASE_FILE.match(path.name)
        assert path.parent.name in JOB_FOLDERS and match and match.group(2) == "tf2.16-keras3.3", path
    kept_home = [files.task, files.progress, files.status, files.cache, PhaseFiles(tmp_path, "check", "tf2.15").results]
    assert [p for p in kept_home if p.parent.name in JOB_FOLDERS and PHASE_FILE.match(p.name)] == []
