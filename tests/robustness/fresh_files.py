"""The fresh pass's hostile files (round 2): each kind replaces the file one entry point reads, and the
outcome each entry point must end with (``tests/robustness/fresh_pass.py`` runs them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.robustness.fresh_pass_outcome import ROOT


# --- hostile files: each replaces the file an entry point reads ----------------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dir(path: Path) -> None:
    path.mkdir()


def _loop(path: Path) -> None:
    path.symlink_to(path)


def _dangling(path: Path) -> None:
    path.symlink_to(path.with_name("gone-" + path.name))


def _device(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _not_utf8(path: Path) -> None:
    path.write_bytes(b'{"a": "caf\xe9 \xff"}\n')


def _huge(path: Path) -> None:
    with open(path, "wb") as handle:  # sparse: 600 MiB of zeros, past every reader's cap
        handle.truncate(600 * 2**20)


KINDS = {  # kind -> (plant, what the line must say)
    "a named pipe (FIFO)": (_fifo, r"named pipe"),
    "a folder": (_dir, r"[Dd]irectory|folder|not a regular file"),
    "a symbolic link to itself": (_loop, r"loop|symbolic links|Too many levels|cannot be resolved"),
    "a dangling symbolic link": (_dangling, r"[Nn]o such file|not found|no run\.json|no check plan|no lock"),
    "a link to /dev/zero": (_device, r"a device"),
    "an empty file": (_empty, r"empty|not JSON|Expecting value|not (a |valid |readable )|no \w+|nothing"),
    "bytes that are not UTF-8": (_not_utf8, r"UTF-8"),
    "600 MiB of zeros (sparse)": (_huge, r"over the \d+ (bytes )?this reader accepts|past|refused"),
}


# --- entry points: each plants a valid input, lets a kind replace one file, and runs ---------------------------

def weights_h5(path: Path) -> Path:
    """A Keras 2 weights-only HDF5 file (``layer_names``, no ``model_config``): check wants --architecture."""
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [b"dense"]
        handle.attrs["keras_version"] = "2.15.0"
        handle.create_group("dense").attrs["weight_names"] = [b"dense/kernel:0"]
    return path


def model_h5(path: Path, config=None, **attrs) -> Path:
    """A Keras 2 model HDF5 file whose ``model_config`` is ``config`` (default: an empty Sequential)."""
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config or {"class_name": "Sequential", "config": {"layers": []}})
        handle.attrs["keras_version"] = "2.15.0"
        handle.attrs["backend"] = "tensorflow"
        for key, value in attrs.items():
            handle.attrs[key] = value
    return path


def _records_workdir(tmp: Path) -> Path:
    """tests/robustness/test_hostile_records's work dir, with the fixture's negative control recorded too:
    its report passes."""
    from harness.execute.plan import CONTROL_FORMAT, CONTROL_LOADER, cell_id
    from tests.robustness.test_hostile_records import ENV, FIXTURE, _workdir

    workdir = _workdir(tmp)
    path = workdir / "results" / f"consume-{ENV}.jsonl"
    record = json.loads(path.read_text())
    control = dict(record, id=cell_id(ENV, ENV, FIXTURE, CONTROL_FORMAT, CONTROL_LOADER), format=CONTROL_FORMAT,
                   loader=CONTROL_LOADER, verdict="mismatch", max_abs=1.0, max_rel=1.0, margin=50.0)
    path.write_text(path.read_text() + json.dumps(control) + "\n")
    return workdir


def _report(tmp: Path, workdir: Path, *extra: str):
    from harness import cli, run
    from tests.robustness.test_hostile_records import ENV, FIXTURE

    def call():
        args = cli.last_selection(["--workdir", str(workdir), "--reports", str(tmp / "reports"), *extra])
        if "--envs" not in args:
            args += ["--envs", ENV, "--fixtures", FIXTURE, "--no-goldens"]
        lines = []
        problems = run.report(run.Context.from_args(args, parser=cli.report_parser), log=lines.append)
        warned = [line for line in lines if line.startswith("WARNING")]
        return (1 if problems else 0), "; ".join(warned + problems)
    return call


def entry_compare(tmp: Path, kind):
    from harness.report.results_file import read_results

    kind(tmp / "previous.json")
    return lambda: (0, str(read_results(tmp / "previous.json")))


def entry_trend(tmp: Path, kind):
    from harness.report import trend

    (tmp / "nights").mkdir()
    night = ROOT / "tests" / "data" / "history" / "night1.json"
    (tmp / "nights" / "night1.json").write_bytes(night.read_bytes())
    kind(tmp / "nights" / "zz.json")

    def call():
        lines = []
        trend.main([str(tmp / "nights"), "--out", str(tmp / "out") + "/"], log=lines.append)
        return 0, "; ".join(line for line in lines if line.startswith("left out"))
    return call


def _merge(tmp: Path, *jobs: Path):
    """nox -s merge as the noxfile runs it: merge the job folders, then report (into ``tmp``)."""
    from harness import cli, run

    def call():
        args = run.merge([*map(str, jobs), "--workdir", str(tmp / "work"), "--reports", str(tmp / "reports")],
                         log=lambda line: None)
        problems = run.report(run.Context.from_args(args, parser=cli.report_parser), log=lambda line: None)
        return (1 if problems else 0), "; ".join(problems)
    return call


def _job(tmp: Path, name: str = "j") -> Path:
    """A job folder of one environment whose records are those of tests/robustness/test_hostile_records."""
    from tests.robustness.test_hostile_merge import _job as job_folder
    from tests.robustness.test_hostile_records import ENV, FIXTURE

    job = job_folder(tmp / name, [ENV], fixtures=[FIXTURE])
    source = _records_workdir(tmp / f"{name}-src")
    for path in (source / "results").iterdir():
        (job / "results" / path.name).write_bytes(path.read_bytes())
    return job


def entry_merge_run_json(tmp: Path, kind):
    job = _job(tmp)
    (job / "run.json").unlink()
    kind(job / "run.json")
    return _merge(tmp, job)


def entry_merge_records(tmp: Path, kind):
    job = _job(tmp)
    (job / "results" / "consume-tf2.15.jsonl").unlink()
    kind(job / "results" / "consume-tf2.15.jsonl")
    return _merge(tmp, job)


def entry_report_records(tmp: Path, kind):
    from tests.robustness.test_hostile_records import ENV

    workdir = _records_workdir(tmp)
    (workdir / "results" / f"consume-{ENV}.jsonl").unlink()
    kind(workdir / "results" / f"consume-{ENV}.jsonl")
    return _report(tmp, workdir)


def entry_report_run_json(tmp: Path, kind):
    workdir = _records_workdir(tmp)
    (workdir / "run.json").unlink()
    kind(workdir / "run.json")
    return _report(tmp, workdir)


def entry_report_facts(tmp: Path, kind):
    from tests.robustness.test_hostile_records import ENV

    workdir = _records_workdir(tmp)
    kind(workdir / "results" / f"consume-{ENV}.facts.json")
    return _report(tmp, workdir)


def entry_inputs(tmp: Path, kind):
    from harness.check.steps import _npz

    kind(tmp / "inputs.npz")
    return lambda: (0, _npz(tmp / "inputs.npz"))


def entry_custom_objects(tmp: Path, kind):
    from harness.check.steps import _python_file

    kind(tmp / "custom.py")
    return lambda: (0, _python_file(tmp / "custom.py"))


def entry_architecture(tmp: Path, kind):
    from harness.check.modelfile import read_model_file
    weights = weights_h5(tmp / "w.weights.h5")
    kind(tmp / "arch.json")
    return lambda: (0, str(read_model_file(weights, tmp / "arch.json").format))


def entry_scan(tmp: Path, kind):
    from harness.check.security.scan import main

    kind(tmp / "model.keras")
    return lambda: main([str(tmp / "model.keras"), "--to", "keras==3.8.0"])


def entry_check_model(tmp: Path, kind):
    from harness.check.modelfile import read_model_file

    kind(tmp / "model.h5")
    return lambda: (0, str(read_model_file(tmp / "model.h5").format))


def entry_matrix_yaml(tmp: Path, kind):
    from harness.config import spec

    kind(tmp / "matrix.yaml")
    return lambda: (0, str(sorted(spec.load(tmp / "matrix.yaml").envs)))


def entry_advisories(tmp: Path, kind):
    from harness.check.security.advisories import load_advisories

    kind(tmp / "advisories.yaml")
    return lambda: (0, str(len(load_advisories(tmp / "advisories.yaml"))))


def entry_lock_index(tmp: Path, kind):
    from harness.config.lock import fetch

    (tmp / "index" / "keras").mkdir(parents=True)
    kind(tmp / "index" / "keras" / "json")
    return lambda: (0, str(type(fetch("keras", f"file://{tmp / 'index'}", timeout_s=2))))


def entry_releases_cache(tmp: Path, kind):
    import contextlib
    import io

    from harness.check import releases
    from harness.config import spec as spec_mod
    from harness.config.matrix_yaml import matrix_path

    kind(tmp / "releases.json")

    def call():
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            releases.with_cached(spec_mod.load(matrix_path()), tmp / "releases.json")
        return 0, err.getvalue().strip()
    return call


def entry_check_plan(tmp: Path, kind):
    from harness.check.check_plan import CheckPlan

    kind(tmp / "plan.json")
    return lambda: (0, str(CheckPlan.read(tmp / "plan.json")))


def entry_golden_manifest(tmp: Path, kind):
    from harness.execute import golden

    (tmp / "golden" / "tf2.9").mkdir(parents=True)
    kind(tmp / "golden" / "tf2.9" / "GOLDEN.json")
    return lambda: (0, str(sorted(golden.discover(tmp / "golden"))))


def entry_incremental_cache(tmp: Path, kind):
    from harness.execute.incremental import reuse
    from harness.workdir import PhaseFiles

    files = PhaseFiles(tmp / "work", "consume", "tf2.15")
    files.cache.parent.mkdir(parents=True, exist_ok=True)
    files.results.parent.mkdir(parents=True, exist_ok=True)
    kind(files.cache)
    cells = [{"id": "a", "key": "k", "directory": str(tmp)}]
    return lambda: (0, f"{len(reuse(files, cells))} of 1 cells left to run")


# entry point -> (function, the status a hostile file ends it with)
ENTRIES = {
    "report --compare": (entry_compare, 1),
    "trend (an input file)": (entry_trend, 0),
    "merge (a job's run.json)": (entry_merge_run_json, 1),
    "merge (a job's records)": (entry_merge_records, 1),
    "report (results/*.jsonl)": (entry_report_records, 1),
    "report (run.json)": (entry_report_run_json, 1),
    "report (results/*.facts.json)": (entry_report_facts, 1),
    "check --inputs": (entry_inputs, 2),
    "check --custom-objects": (entry_custom_objects, 2),
    "check --architecture": (entry_architecture, 2),
    "scan (the model file)": (entry_scan, 2),
    "check (the model file)": (entry_check_model, 2),
    "matrix.yaml (KCM_MATRIX)": (entry_matrix_yaml, 1),
    "advisories.yaml": (entry_advisories, 2),
    "lock --index-url file://": (entry_lock_index, 1),
    "work/releases.json": (entry_releases_cache, 0),
    "check_report (plan.json)": (entry_check_plan, 2),
    "golden (GOLDEN.json)": (entry_golden_manifest, 1),
    "incremental cache": (entry_incremental_cache, 0),
}



OVERRIDES = {
    ("merge (a job's records)", "a symbolic link to itself"): (1, r"a symbolic link \(to .*\); refused"),
    ("merge (a job's records)", "a dangling symbolic link"): (1, r"a symbolic link \(to .*\); refused"),
    ("merge (a job's records)", "a link to /dev/zero"): (1, r"a symbolic link \(to '/dev/zero'\); refused"),
    ("merge (a job's records)", "an empty file"): (1, r"1 cells have no result"),  # a job that ran nothing
    ("report (results/*.jsonl)", "a dangling symbolic link"): (1, r"1 cells have no result"),
    ("report (results/*.jsonl)", "a link to /dev/zero"): (1, r"leads outside .*; refused"),
    ("report (results/*.jsonl)", "an empty file"): (1, r"cells have no result"),
    ("report (run.json)", "a dangling symbolic link"): (1, r"cells have no result"),  # no run.json: defaults
    ("report (run.json)", "an empty file"): (1, r"run\.json: not the run\.json of nox -s plan"),
    ("report (results/*.facts.json)", "a dangling symbolic link"): (0, r"^$"),  # no facts: versions unknown
    ("report (results/*.facts.json)", "a link to /dev/zero"): (1, r"leads outside .*; refused"),
    ("report (results/*.facts.json)", "an empty file"): (0, r"^$"),  # a torn write: versions unknown
    ("check --inputs", "bytes that are not UTF-8"): (2, r"not an \.npz file"),
    ("check --inputs", "600 MiB of zeros (sparse)"): (2, r"not an \.npz file"),
    ("check --inputs", "an empty file"): (2, r"not an \.npz file"),
    ("check --custom-objects", "an empty file"): (0, r"custom\.py$"),  # an empty module is valid Python
    # a folder is where scan looks for model files (nox -s scan -- DIR): an empty one is nothing scanned, exit 3
    ("scan (the model file)", "a folder"): (3, r"nothing scanned: no \.keras, \.h5, \.hdf5 file or SavedModel"),
    ("scan (the model file)", "bytes that are not UTF-8"): (2, r"not a Keras model"),
    ("scan (the model file)", "600 MiB of zeros (sparse)"): (2, r"not a Keras model"),
    ("scan (the model file)", "an empty file"): (2, r"not a Keras model"),
    ("check (the model file)", "bytes that are not UTF-8"): (2, r"not a Keras model"),
    ("check (the model file)", "600 MiB of zeros (sparse)"): (2, r"not a Keras model"),
    ("check (the model file)", "an empty file"): (2, r"not a Keras model"),
    ("advisories.yaml", "an empty file"): (2, r"\(top level\): None is not of type 'object'"),
    ("lock --index-url file://", "bytes that are not UTF-8"): (1, r"did not answer JSON"),
    ("work/releases.json", "a dangling symbolic link"): (0, r"^$"),  # no cache yet
    ("incremental cache", "a dangling symbolic link"): (0, r"1 of 1 cells left to run"),
}


def file_cases() -> list[tuple[str, str, object, object, str]]:
    """Every kind of hostile file at every entry point that reads a file: (case, entry point, plant,
    status, pattern)."""
    cases = []
    for entry, (function, status) in ENTRIES.items():
        for kind, (plant, pattern) in KINDS.items():
            expected = OVERRIDES.get((entry, kind), (status, pattern))
            if entry == "incremental cache" and (entry, kind) not in OVERRIDES:
                expected = (0, r"1 of 1 cells left to run")  # a damaged cache runs its cells again
            if entry == "work/releases.json" and (entry, kind) not in OVERRIDES:
                expected = (0, r"WARNING: .*releases\.json: ignored, the releases cache")
            cases.append((kind, entry, _file_plant(function, plant), *expected))
    return cases


def _file_plant(function, kind):
    return lambda tmp: function(tmp, kind)
