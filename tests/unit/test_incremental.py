"""Incremental runs: a cell runs again when, and only when, something that decides its record changed."""
import json
import shutil
import sys
from pathlib import Path

from harness.cli import parallel_sessions
from harness.config.spec import load
from harness.execute import incremental
from harness.execute.processes import Interpreter
from harness.execute.supervisor import run_phase
from harness.workdir import PhaseFiles, read_records

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).with_name("fake_worker.py")


def _spec(tmp_path, packages='["tensorflow-cpu==2.15.1"]'):
    text = (ROOT / "matrix.yaml").read_text().replace('packages: ["tensorflow-cpu==2.15.1"]\n',
                                                      f"packages: {packages}\n", 1)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    shutil.copyfile(ROOT / "matrix.lock.json", tmp_path / "matrix.lock.json")
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures", ignore=shutil.ignore_patterns("golden"))
    return load(path)


def _produce_keys(spec, tmp_path):
    keys = incremental.Keys(spec, {"dense_bn": tmp_path / "fixtures" / "dense_bn.py"})
    return [c["key"] for c in keys.assign("produce", "tf2.15", [{"id": f"tf2.15/dense_bn/{f}", "fixture": "dense_bn",
                                                                 "format": f} for f in ("h5", "keras")])]


def test_produce_keys_follow_the_environment_the_fixture_and_nothing_else(tmp_path):
    spec = _spec(tmp_path)
    first = _produce_keys(spec, tmp_path)
    assert first == _produce_keys(spec, tmp_path) and len(set(first)) == 2  # stable; one per format
    fixture = tmp_path / "fixtures" / "dense_bn.py"
    fixture.write_text(fixture.read_text() + "\n# edited\n")
    assert set(_produce_keys(spec, tmp_path)).isdisjoint(first)
    helper = tmp_path / "fixtures" / "_keras_helpers.py"  # a shared helper decides every fixture too
    fixture.write_text(fixture.read_text().replace("\n# edited\n", ""))
    assert _produce_keys(spec, tmp_path) == first
    helper.write_text(helper.read_text() + "\n# edited\n")
    assert set(_produce_keys(spec, tmp_path)).isdisjoint(first)


def test_a_new_pin_changes_the_environments_keys(tmp_path):
    before = _produce_keys(_spec(tmp_path / "a"), tmp_path / "a")
    after = _produce_keys(_spec(tmp_path / "b", '["tensorflow-cpu==2.15.0"]'), tmp_path / "b")
    assert set(before).isdisjoint(after)


def _artifact(directory: Path, content: str) -> str:
    """An artifact folder as a producer leaves it: its file, reference.npz, and the manifest listing the file."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.h5").write_text(content)
    (directory / "reference.npz").write_bytes(b"PK")
    (directory / "manifest.json").write_text(json.dumps({"files": {"model.h5": {"sha256": content,
                                                                                "bytes": len(content)}}}))
    return str(directory)


def test_consume_keys_follow_the_artifact_the_producer_saved(tmp_path):
    spec = _spec(tmp_path)
    keys = incremental.Keys(spec, {"dense_bn": tmp_path / "fixtures" / "dense_bn.py"})
    cell = {"id": "x", "fixture": "dense_bn", "format": "h5", "loader": "load_model", "atol": 1e-5, "rtol": 1e-4,
            "artifact": "h5", "directory": _artifact(tmp_path / "art", "aaa")}
    first = keys.consume("tf2.15", cell)
    assert first == keys.consume("tf2.15", dict(cell))
    assert keys.consume("tf2.15", dict(cell, atol=1e-3)) != first  # a new tolerance decides the verdict
    assert keys.consume("tf2.13", cell) != first
    _artifact(tmp_path / "art", "bbb")  # the producer saved again; the next phase makes its own Keys
    keys = incremental.Keys(spec, {"dense_bn": tmp_path / "fixtures" / "dense_bn.py"})
    assert keys.consume("tf2.15", cell) != first
    assert keys.consume("tf2.15", dict(cell, directory=str(tmp_path / "nothing"))) is None


def _cells(ids, key_suffix=""):
    return [{"id": i, "producer": "envP", "fixture": "f", "format": "h5", "loader": "load_model",
             "atol": 1e-5, "rtol": 1e-4, "key": f"key-{i}{key_suffix}"} for i in ids]


def _phase(tmp_path, cells):
    """One phase as harness.run runs it: archive, reset, reuse, run what is left."""
    files = PhaseFiles(tmp_path, "consume", "envA")
    incremental.archive(files)
    files.reset()
    left = incremental.reuse(files, cells)
    if left:
        run_phase(files, Interpreter(sys.executable), {}, {}, left, 30.0, 30.0, worker=FAKE)
    return files, left


def test_a_rerun_with_nothing_changed_runs_nothing_and_keeps_every_record(tmp_path):
    files, left = _phase(tmp_path, _cells(["a", "b", "c"]))
    assert [c["id"] for c in left] == ["a", "b", "c"]
    files.facts.write_text('{"tensorflow": "2.15.1"}')
    first = read_records(files.results)
    files, left = _phase(tmp_path, _cells(["a", "b", "c"]))
    assert left == []
    again = read_records(files.results)
    assert [r["id"] for r in again] == ["a", "b", "c"] and all(r["reused"] for r in again)
    # As they were, with the time they first ran (stamped as they were archived).
    assert [dict(r, reused=None, recorded_at=None) for r in again] == [dict(r, reused=None, recorded_at=None)
                                                                       for r in first]
    assert json.loads(files.facts.read_text()) == {"tensorflow": "2.15.1"}  # facts of the run that ran
    assert not files.stats.exists()  # no worker ran


def test_only_changed_cells_and_crashes_run_again(tmp_path):
    _phase(tmp_path, _cells(["a", "b-segv", "c"]))
    changed = _cells(["a", "b-segv"]) + _cells(["c"], key_suffix="-new")
    files, left = _phase(tmp_path, changed)
    assert [c["id"] for c in left] == ["b-segv", "c"]  # a crash is never reused; c's inputs changed
    records = {r["id"]: r for r in read_records(files.results)}
    assert records["a"].get("reused") and not records["c"].get("reused")
    stats = json.loads(files.stats.read_text())
    assert stats["workers_started"] == 2 and stats["cells"] == 2  # one worker, one more after the crash


def test_fresh_forgets_the_records_of_its_phase_only(tmp_path):
    """--envs A --fresh runs A's cells again; B's records stay for the next full run."""
    _phase(tmp_path, _cells(["a"]))
    _phase(tmp_path, _cells(["a"]))  # archives the first run's records
    other = PhaseFiles(tmp_path, "consume", "envB")
    shutil.copyfile(tmp_path / "cache" / "consume-envA.json", tmp_path / "cache" / "consume-envB.json")
    files = PhaseFiles(tmp_path, "consume", "envA")
    incremental.forget(files)
    files.reset()
    assert incremental.reuse(files, _cells(["a"])) == _cells(["a"])
    other.reset()
    assert incremental.reuse(other, _cells(["a"])) == []


def test_the_cache_keeps_one_record_per_cell(tmp_path):
    """A record archived under a new key replaces the cell's older one: the cache does not grow night after
    night (each edit of the worker gives every cell a new key); a cell not run this time keeps its record."""
    _phase(tmp_path, _cells(["a", "b"]))
    for night in range(3):
        _phase(tmp_path, _cells(["a"], key_suffix=f"-{night}"))
    _phase(tmp_path, [])  # archives the last night's records
    cache = json.loads((tmp_path / "cache" / "consume-envA.json").read_text())
    assert sorted(cache) == ["key-a-2", "key-b"]


def test_a_produce_record_is_not_reused_once_its_artifact_is_gone(tmp_path):
    files = PhaseFiles(tmp_path, "produce", "envP")
    files.reset()
    directory = _artifact(tmp_path / "artifacts" / "envP" / "f" / "h5", "aaa")
    cell = {"id": "envP/f/h5", "fixture": "f", "format": "h5", "key": "k", "directory": directory}
    files.results.write_text(json.dumps({"id": cell["id"], "verdict": "saved", "key": "k"}) + "\n")
    incremental.archive(files)
    files.reset()
    assert incremental.reuse(files, [cell]) == []
    files.reset()
    shutil.rmtree(tmp_path / "artifacts")
    assert incremental.reuse(files, [cell]) == [cell]


def test_a_produce_record_is_not_reused_once_a_file_of_its_artifact_is_deleted_or_truncated(tmp_path):
    """Else the consumers would find a CorruptArtifact that re-running the producer never repairs."""
    files = PhaseFiles(tmp_path, "produce", "envP")
    files.reset()
    directory = Path(_artifact(tmp_path / "artifacts" / "envP" / "f" / "h5", "aaa"))
    cell = {"id": "envP/f/h5", "fixture": "f", "format": "h5", "key": "k", "directory": str(directory)}
    files.results.write_text(json.dumps({"id": cell["id"], "verdict": "saved", "key": "k"}) + "\n")
    incremental.archive(files)
    for damage in (lambda: (directory / "model.h5").write_text("a"), lambda: (directory / "model.h5").unlink(),
                   lambda: (directory / "reference.npz").unlink(),
                   lambda: (directory / "manifest.json").write_text("{")):
        _artifact(directory, "aaa")
        files.reset()
        assert incremental.reuse(files, [cell]) == []
        damage()
        files.reset()
        assert incremental.reuse(files, [cell]) == [cell]
        assert incremental.artifact_digest(directory) is None  # so its consumers' cells run again too


def test_a_damaged_cache_never_gives_a_verdict_it_only_runs_cells_again(tmp_path):
    files = PhaseFiles(tmp_path, "consume", "envA")
    cells = _cells(["a"])
    good = {"id": "a", "key": "key-a", "verdict": "pass"}
    cache = tmp_path / "cache" / "consume-envA.json"
    cache.parent.mkdir(parents=True)
    for text in ("garbage", "[1, 2]", json.dumps({"key-a": good})[:15], json.dumps({"key-a": 5}),
                 json.dumps({"key-a": "pass"}), json.dumps({"key-a": dict(good, verdict="crash")}),
                 json.dumps({"key-a": dict(good, verdict="xfail")}), json.dumps({"key-a": dict(good, key="other")}),
                 json.dumps({"key-a": {"id": "a", "key": "key-a"}}), json.dumps({"key-a": dict(good, id="b")})):
        cache.write_text(text)
        files.reset()
        assert incremental.reuse(files, cells) == cells, text
        assert read_records(files.results) == []
    cache.write_text(json.dumps({"key-a": good, "junk": 5}))
    files.reset()
    assert incremental.reuse(files, cells) == [] and read_records(files.results) == [dict(good, reused=True)]


def test_parallel_sessions_reads_nox_options_before_the_double_dash():
    assert parallel_sessions(["nox", "-s", "matrix", "-j", "3"], {}) == 3
    assert parallel_sessions(["nox", "--parallel=4", "-s", "matrix"], {}) == 4
    assert parallel_sessions(["nox", "-s", "matrix", "--", "-j", "5"], {}) == 1
    assert parallel_sessions(["nox"], {"NOX_PARALLEL": "2"}) == 2
    assert parallel_sessions(["nox", "-j", "auto"], {}) >= 1
    assert parallel_sessions(["nox", "-j", "lots"], {}) == 1


def test_a_run_with_fresh_forgets_only_the_selected_environments(tmp_path):
    from harness import run
    for env in ("tf2.15", "tf2.13"):
        files = PhaseFiles(tmp_path, "consume", env)
        files.reset()
        files.results.write_text(json.dumps({"id": "a", "key": "k", "verdict": "pass"}) + "\n")
    run.start(run.Context.from_args(["--profile", "quick", "--envs", "tf2.15", "tf2.13", "--workdir", str(tmp_path)]))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["consume-tf2.13.json", "consume-tf2.15.json"]
    run.start(run.Context.from_args(["--envs", "tf2.15", "--fresh", "--workdir", str(tmp_path)]))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["consume-tf2.13.json"]


def test_every_verdict_a_worker_writes_is_reused_and_none_of_the_supervisors():
    """A works-with is a property of the versions like a pass (the quick run's rerun ran its 10 works-with
    cells again before it was reusable); a crash, timeout or env-error runs again."""
    from harness.execute import incremental
    from harness.worker import protocol
    assert set(protocol.CELL_VERDICTS + protocol.SAVE_VERDICTS) == incremental.REUSABLE
    assert not set(protocol.SUPERVISOR_VERDICTS) & incremental.REUSABLE
