"""One environment's phase split over several workers: the split, the supervision of each shard, and
every step that reads a phase's records (resolution, the Workers table, reuse, merge) finding the shards'."""
import dataclasses
import fnmatch
import json
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

from harness import run
from harness.ci import merge
from harness.execute import incremental, supervisor
from harness.execute.processes import Interpreter
from harness.execute.supervisor import run_order, run_sharded, split
from harness.report import progress
from harness.report.markdown import worker_rows
from harness.workdir import PhaseFiles, read_records

from test_report import RUN, _data

FAKE = Path(__file__).with_name("fake_worker.py")


def _cells(spec):
    """Cells named ``<producer>-<fixture>-<n>[-segv|-hang]`` from ``{(producer, fixture): [suffix, ...]}``."""
    return [{"id": f"{p}-{f}-{n}{s}", "producer": p, "fixture": f, "format": "h5", "loader": "load_model",
             "atol": 0, "rtol": 0} for (p, f), suffixes in spec.items() for n, s in enumerate(suffixes)]


def test_split_balances_counts_keeps_an_artifact_source_together_and_keeps_order():
    cells = _cells({("A", "f"): [""] * 4, ("A", "g"): [""] * 3, ("B", "f"): [""] * 3, ("B", "g"): [""] * 2})
    parts = split(cells, 2)
    assert sorted(len(p) for p in parts) == [6, 6]
    for part in parts:
        assert part == [c for c in cells if c in part]  # each shard in the plan's order
    sources = [{(c["producer"], c["fixture"]) for c in part} for part in parts]
    assert not sources[0] & sources[1]  # no (producer, fixture) in two shards
    assert split(cells, 1) == [cells]
    assert len(split(cells, 9)) == 4  # no more shards than groups of cells
    produce = [{"id": f"{f}-{fmt}", "fixture": f, "format": fmt} for f in ("f", "g") for fmt in ("h5", "keras")]
    assert [[c["id"] for c in p] for p in split(produce, 2)] == [["f-h5", "f-keras"], ["g-h5", "g-keras"]]
    assert split([], 3) == []


def test_split_deals_by_the_seconds_cells_took_when_they_last_ran_where_known():
    # by counts, A-f and B-f (4 cells each) would share a shard; A-f's cells took 10 s each last time
    cells = _cells({("A", "f"): [""] * 4, ("B", "f"): [""] * 4, ("A", "g"): [""] * 3, ("B", "g"): [""] * 3})
    seconds = {c["id"]: 10.0 if c["producer"] == "A" and c["fixture"] == "f" else 1.0 for c in cells}
    parts = split(cells, 2, seconds)
    assert [sorted({(c["producer"], c["fixture"]) for c in p}) for p in parts] == \
        [[("A", "f")], [("A", "g"), ("B", "f"), ("B", "g")]]
    unknown = {k: v for k, v in seconds.items() if not k.startswith("B-g")}  # B-g: the mean of the known
    assert split(cells, 2, unknown) == parts
    assert split(cells, 2, {}) == split(cells, 2)  # nothing known: by counts


def test_the_seconds_of_the_last_run_outlive_the_plans_reset(tmp_path):
    ctx = types.SimpleNamespace(fresh=True)
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    files.results.write_text(json.dumps({"id": "a", "verdict": "pass", "seconds": 2.5}) + "\n"
                             + json.dumps({"id": "b", "verdict": "crash"}) + "\n")
    assert run._reset(ctx, files) == {"a": 2.5}  # nox -s plan resets the phase ...
    assert run._reset(ctx, files) == {"a": 2.5}  # ... and its session still knows them
    files.last_seconds.write_text('{"a": "x", "c": 1.5, "d": true}')
    assert run._reset(ctx, files) == {"c": 1.5}  # a damaged file gives what it holds that is a number


def test_run_order_shuffles_artifact_sources_the_same_way_every_run_and_keeps_each_together_in_order():
    cells = _cells({(p, f): [""] * 3 for p in ("A", "B", "C") for f in ("f", "g", "h", "i")})
    ordered = run_order(cells, "consume-envA")
    assert sorted(c["id"] for c in ordered) == sorted(c["id"] for c in cells)
    assert ordered == run_order(cells, "consume-envA")  # the same order in every run
    sources = [(c["producer"], c["fixture"]) for c in ordered]
    runs = [s for i, s in enumerate(sources) if i == 0 or sources[i - 1] != s]
    assert len(runs) == len(set(runs)) == 12  # each source's cells together
    for source in set(runs):
        assert [c for c in ordered if (c["producer"], c["fixture"]) == source] == \
            [c for c in cells if (c["producer"], c["fixture"]) == source]  # in the plan's order
    assert runs != sorted(runs, key=lambda s: ("ABC".index(s[0]), s[1]))  # not producer by producer
    assert [c["id"] for c in run_order(cells, "consume-envB")] != [c["id"] for c in ordered]
    assert run_order([], "x") == []


def test_a_phase_runs_its_cells_in_run_order(tmp_path):
    cells = _cells({(p, f): [""] * 2 for p in ("A", "B") for f in ("f", "g", "h")})
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    run_sharded(files, Interpreter(sys.executable), {}, {}, cells, 1, 30.0, 30.0, worker=FAKE)
    assert [r["id"] for r in read_records(files.results)] == [c["id"] for c in run_order(cells, "consume-envA")]


def _run(tmp_path, cells, shards, cell_timeout_s=30.0):
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    used = run_sharded(files, Interpreter(sys.executable), {}, {}, cells, shards, cell_timeout_s, 30.0, worker=FAKE)
    return files, used


def test_shards_run_at_once_each_with_its_own_records_and_a_crash_costs_one_cell_of_one_shard(tmp_path):
    cells = _cells({("A", "f"): ["", "-segv", "-hang", ""], ("B", "f"): ["", "-hang", "", ""]})
    started = time.monotonic()
    files, used = _run(tmp_path, cells, 2, cell_timeout_s=2.0)
    wall = time.monotonic() - started
    assert used == 2 and wall < 3.9  # two 2 s timeouts one after the other would take 4 s or more
    shards = files.shards()
    assert [s.shard for s in shards] == [1, 2] and read_records(files.results) == []
    by_shard = [{r["id"]: r for r in read_records(s.results)} for s in shards]
    assert sorted(by_shard[0]) == sorted(c["id"] for c in cells[:4])
    assert sorted(by_shard[1]) == sorted(c["id"] for c in cells[4:])
    assert by_shard[0]["A-f-1-segv"]["verdict"] == "crash" and by_shard[0]["A-f-2-hang"]["verdict"] == "timeout"
    assert [by_shard[0][f"A-f-{n}"]["verdict"] for n in (0, 3)] == ["pass", "pass"]  # the shard carried on
    assert by_shard[1]["B-f-1-hang"]["verdict"] == "timeout"
    assert [by_shard[1][f"B-f-{n}"]["verdict"] for n in (0, 2, 3)] == ["pass"] * 3
    pids = [{r["worker_pid"] for r in shard.values() if "worker_pid" in r} for shard in by_shard]
    assert not pids[0] & pids[1]
    assert len(files.records()) == len(cells)
    stats = json.loads(files.stats.read_text())
    assert stats["shards"] == 2 and stats["cells"] == 8
    assert stats["workers_started"] == 5  # 2, plus a restart after the crash and one after each timeout
    assert [json.loads(s.stats.read_text())["workers_started"] for s in shards] == [3, 2]


def test_a_phase_on_one_worker_takes_a_second_as_a_core_comes_free_and_runs_each_cell_once(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "WIDEN_POLL_S", 0.1)
    cells = _cells({(p, f): [""] * 3 for p in ("A", "B") for f in ("f", "g", "h")})  # 18 cells, 6 sources
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    asked = []

    def widen():  # the first two polls: no core free; then one
        asked.append(len(asked))
        return 2 if len(asked) > 2 else 0

    used = run_sharded(files, Interpreter(sys.executable), {}, {"cell_s": 0.1}, cells, 1, 30.0, 30.0, worker=FAKE,
                       widen=widen)
    assert used == 2 and len(asked) == 3  # asked until it said yes, then never again
    first = read_records(files.results)
    shards = [read_records(s.results) for s in files.shards()]
    assert len(shards) == 2 and all(shards) and 0 < len(first) < 18
    ids = [r["id"] for r in first + shards[0] + shards[1]]
    assert sorted(ids) == sorted(c["id"] for c in cells)  # every cell once: none lost, none run twice
    assert [r["id"] for r in first] == [c["id"] for c in run_order(cells, "consume-envA")][:len(first)]
    stats = json.loads(files.stats.read_text())
    assert stats == dict(stats, cells=18, shards=2, workers_started=3, widened_after=len(first))
    assert not files.stop.exists()


def test_a_stale_stop_file_does_not_stop_a_new_phase_and_a_crash_in_a_widened_one_costs_one_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "WIDEN_POLL_S", 0.1)
    cells = _cells({("A", "f"): [""] * 3, ("A", "g"): ["", "-segv", ""], ("B", "f"): [""] * 3,
                    ("B", "g"): [""] * 3})
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    files.stop.touch()  # left by a run that was killed while it widened
    used = run_sharded(files, Interpreter(sys.executable), {}, {"cell_s": 0.1}, cells, 1, 30.0, 30.0, worker=FAKE,
                       widen=lambda: 2)
    records = files.records()
    assert used == 2 and sorted(r["id"] for r in records) == sorted(c["id"] for c in cells)
    assert {r["id"]: r["verdict"] for r in records if r["verdict"] != "pass"} == {"A-g-1-segv": "crash"}


def test_widening_asks_for_the_free_cores_only_with_enough_time_left(tmp_path):
    ctx = types.SimpleNamespace(widen_to=4, workdir=tmp_path, work=run.WorkDir(tmp_path))
    run.write_json(ctx.work.run, {"started": time.time() - 5})
    files, other = PhaseFiles(tmp_path, "consume", "envA"), PhaseFiles(tmp_path, "consume", "envB")
    for f in (files, other):
        f.reset()
    told = []
    cells = _cells({("A", "f"): ["", "", ""]})
    with progress.phase_running(files, 3, 0, 1, cells):
        workers = run.widening(ctx, files, told.append, cores=3)
        assert workers() == 0  # nothing ran yet: no time left to go by
        files.results.write_text(json.dumps(dict(cells[0], verdict="pass", seconds=100.0)) + "\n")
        with progress.phase_running(other, 1, 0, 1):
            assert workers() == 2  # 3 cores, this phase and envB's on one each: one free
        assert workers() == 3 and told == [2, 3]  # envB ended: two free
        files.results.write_text(json.dumps(dict(cells[0], verdict="pass", seconds=1.0)) + "\n")
        assert run.widening(ctx, files, told.append, cores=3)() == 0  # 2 s left: not worth a new worker
    assert run.widening(types.SimpleNamespace(**dict(vars(ctx), widen_to=0)), files, told.append, cores=3) is None
    assert run.widening(ctx, files, told.append, cores=1) is None


def test_one_shard_is_the_phase_as_before(tmp_path):
    files, used = _run(tmp_path, _cells({("A", "f"): ["", ""]}), 4)  # one group of cells: one worker
    assert used == 1 and files.shards() == [] and len(read_records(files.results)) == 2


def test_a_new_run_forgets_the_shards_of_the_last(tmp_path):
    files, _ = _run(tmp_path, _cells({("A", "f"): [""], ("B", "f"): [""]}), 2)
    assert len(files.shards()) == 2
    files.reset()
    assert files.shards() == [] and files.records() == []


def _shard_the_run(workdir, env="tf2.15", shards=3):
    """Move a recorded run's consume records of ``env`` into shard files, as a sharded run writes them."""
    files = PhaseFiles(workdir, "consume", env)
    records = read_records(files.results)
    files.results.write_text("")
    for n in range(1, shards + 1):
        files.sharded(n).results.write_text("".join(json.dumps(r) + "\n" for r in records[n - 1::shards]))
    return records


def test_resolution_and_the_report_read_every_shard(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    before = [c.to_json() for c in _data(tmp_path / "run").cells]
    _shard_the_run(tmp_path / "run")
    data = _data(tmp_path / "run")
    assert [c.to_json() for c in data.cells] == before
    # a record planted in a shard is seen: a lie there would not hide
    files = PhaseFiles(tmp_path / "run", "consume", "tf2.15").sharded(2)
    records = read_records(files.results)
    planted = dict(records[0], verdict="mismatch", max_abs=42.5)
    files.results.write_text("".join(json.dumps(r) + "\n" for r in [planted, *records[1:]]))
    after = {c.id: c for c in _data(tmp_path / "run").cells}
    assert after[planted["id"]].verdict == "mismatch" and after[planted["id"]].max_abs == 42.5


def test_the_workers_table_shows_each_shard(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    records = _shard_the_run(tmp_path / "run", shards=2)
    for n, seconds in ((1, 61.0), (2, 59.0)):
        files = PhaseFiles(tmp_path / "run", "consume", "tf2.15").sharded(n)
        files.stats.write_text(json.dumps({"workers_started": n, "seconds": seconds, "cells": 1}))
    rows = [row for row in worker_rows(_data(tmp_path / "run")) if row[0] == "tf2.15"]
    assert [row[1] for row in rows] == ["produce", "consume", "consume shard 1/2", "consume shard 2/2"]
    consume, one, two = rows[1:]
    assert consume[3] == len(records) == one[3] + two[3]
    assert (one[2], one[5], two[2], two[5]) == (1, "61", 2, "59")


def test_reuse_archives_the_shards_records(tmp_path):
    files = PhaseFiles(tmp_path, "consume", "envA")
    cells = [dict(c, key=f"k-{c['id']}") for c in _cells({("A", "f"): ["", ""], ("B", "f"): [""]})]
    files.reset()
    run_sharded(files, Interpreter(sys.executable), {}, {}, cells, 2, 30.0, 30.0, worker=FAKE)
    assert incremental.archive(files) == 3
    files.reset()
    assert incremental.reuse(files, cells) == [] and len(read_records(files.results)) == 3


def test_merge_takes_the_shard_files_of_a_job(tmp_path):
    job = tmp_path / "job"
    shutil.copytree(RUN, job)
    _shard_the_run(job, shards=2)
    run_json = json.loads((job / "run.json").read_text())
    (job / "run.json").write_text(json.dumps(dict(run_json, matrix_sha256=None)))
    found = merge.job_files(merge.read_job(job))
    assert "results/consume-tf2.15.shard2.jsonl" in found
    merge.gather([job], tmp_path / "merged", log=lambda line: None)
    assert PhaseFiles(tmp_path / "merged", "consume", "tf2.15").records() == \
        PhaseFiles(job, "consume", "tf2.15").records()


@pytest.mark.parametrize(("parallel", "envs", "cores", "workers", "threads"), [
    (2, ["tf2.15"], 2, 2, 1),                       # one environment on 2 cores: two workers
    (2, ["tf2.15", "tf2.16-tfkeras"], 2, 1, 1),     # two at once on 2 cores: one each
    (1, ["tf2.15", "tf2.16-tfkeras"], 16, 16, 1),   # one at a time on 16 cores
    (4, ["tf2.15", "tf2.16-tfkeras"], 16, 8, 1),    # -j 4 but two environments: two at once
    (2, ["tf2.15", "tf2.16-tfkeras", "tf2.13"], 1, 1, 1),
])
def test_workers_per_env_default_to_the_cores_over_the_environments_at_once(monkeypatch, tmp_path, parallel, envs,
                                                                             cores, workers, threads):
    monkeypatch.setattr(run.os, "cpu_count", lambda: cores)
    ctx = run.Context.from_args(["--envs", *envs, "--workdir", str(tmp_path)], parallel=parallel)
    assert (ctx.workers_per_env, ctx.worker_threads) == (workers, threads)
    given = run.Context.from_args(["--envs", *envs, "--workdir", str(tmp_path), "--workers-per-env", "3"],
                                  parallel=parallel)
    assert given.workers_per_env == 3
    with pytest.raises(run.spec_mod.SpecError, match="--workers-per-env 0: give 1 or more"):
        run.Context.from_args(["--envs", *envs, "--workers-per-env", "0"])
    assert dataclasses.replace(ctx, workers_per_env=1).workers_per_env == 1


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped by whoever inherited it, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_sigterm_kills_every_shards_worker_and_keeps_their_records(tmp_path):
    script = (
        "import sys; from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from harness.execute.supervisor import run_sharded\n"
        "from harness.workdir import PhaseFiles\n"
        "from harness.execute.processes import Interpreter\n"
        f"files = PhaseFiles(Path({str(tmp_path)!r}), 'consume', 'envA'); files.reset()\n"
        "cells = [{'id': p + i, 'producer': p, 'fixture': 'f', 'format': 'h5', 'loader': 'load_model',"
        " 'atol': 0, 'rtol': 0} for p in ('A', 'B') for i in ('-a', '-b-hang')]\n"
        f"run_sharded(files, Interpreter(sys.executable), {{}}, {{}}, cells, 2, 600, 60, worker=Path({str(FAKE)!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", script])
    files = PhaseFiles(tmp_path, "consume", "envA")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (len(files.shards()) == 2 and len(files.records()) == 2):
        time.sleep(0.1)
    time.sleep(0.3)  # both workers are in their hanging cell
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    workers = {r["worker_pid"] for r in files.records()}
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)
    assert sorted(r["id"] for r in files.records()) == ["A-a", "B-a"]


def test_the_nightly_jobs_upload_every_shards_records_and_logs(tmp_path):
    steps = yaml.safe_load((Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly-phase.yml")
                           .read_text())["jobs"]["phase"]["steps"]
    uploads = {s["with"]["name"]: s["with"]["path"].splitlines() for s in steps
               if s.get("uses", "").startswith("actions/upload-artifact@")}
    for phase in ("produce", "consume"):
        files = PhaseFiles(tmp_path / "work", phase, "tf2.15")
        files.reset()
        run_sharded(files, Interpreter(sys.executable), {}, {}, _cells({("A", "f"): [""], ("B", "f"): [""]}), 2,
                    30.0, 30.0, worker=FAKE)

        def uploaded(path, artifact, phase=phase):
            globs = [g.replace("${{ matrix.env }}", "tf2.15").replace("${{ inputs.phase }}", phase)
                     for g in uploads[artifact]]
            return any(fnmatch.fnmatch(str(path.relative_to(tmp_path)), g) for g in globs)

        written = [p for folder in ("results", "logs") for p in (tmp_path / "work" / folder).glob(f"{phase}-*")]
        assert len([p for p in written if ".shard" in p.name]) >= 4  # records, stats, logs of two shards
        missing = [p.name for p in written if not uploaded(p, "kcm-results-${{ inputs.phase }}-${{ matrix.env }}")]
        assert missing == []
        if phase == "produce":  # the consumers' jobs read every produce record of the artifacts they load
            assert all(uploaded(p, "kcm-artifacts-${{ matrix.env }}") for p in files.record_files())
