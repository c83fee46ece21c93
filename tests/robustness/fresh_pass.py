"""The fresh pass of hostile input (round 2): each case plants one hostile input at one entry point and
says the exact outcome expected: the exit status the nox session would end with (0, 1, or 2 for bad input
to check and scan), and what its one line must say (a pattern, and the file or key it must name).

``tests/robustness/test_fresh_pass.py`` runs every case; ``python3 -m tests.robustness.fresh_pass`` prints
the table of docs/hostile-input.md ("Round 2, fresh pass") from the same cases, with what each does on
the code it runs against (run it against the old code for the "before" column).

A case is ``(name, entry point, plant, expected status, pattern)``; ``plant(tmp)`` makes the input under
the temporary folder ``tmp`` and returns a callable that runs the entry point in process, as the
noxfile's ``one_line`` does: it returns ``(status, line)``, a HarnessError is its ``exit_status`` and
message, anything else is a traceback (a failure).
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEEP = "[" * 100_000

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


def _outcome(func, seconds: float = 20.0) -> tuple[object, str]:
    """``func()``'s (status, line), as the noxfile's ``one_line`` ends a session: ``("hang", …)`` when it has
    not returned within ``seconds``, ``("traceback", …)`` for an exception that is no HarnessError."""
    from harness.errors import HarnessError

    import contextlib
    import io

    box, err = {}, io.StringIO()

    def call():
        try:
            with contextlib.redirect_stderr(err):
                box["value"] = func()
        except BaseException as exc:  # noqa: B036 — judged below
            box["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return "hang", f"still running after {seconds} s"
    error = box.get("error")
    if isinstance(error, HarnessError):
        return error.exit_status, str(error)
    if isinstance(error, SystemExit):  # argparse of check and scan: status 2, its last line on stderr
        return error.code, ([line for line in err.getvalue().splitlines() if line.strip()] or [""])[-1]
    if error is not None:
        return "traceback", f"{type(error).__name__}: {error}"
    return box.get("value", (0, ""))


# --- entry points: each plants a valid input, lets a kind replace one file, and runs ---------------------------

GOOD = ("envs:\n  tf2.15: {python: '3.11', packages: [tensorflow-cpu==2.15.1]}\n"
        "profiles:\n  default: {envs: [tf2.15]}\n")


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


# --- targeted cases: one hostile value at one entry point ----------------------------------------------------

def _spec_text(text: str):
    def plant(tmp: Path):
        from harness.config import spec

        (tmp / "matrix.yaml").write_text(text, encoding="utf-8")
        return lambda: (0, str(sorted(spec.load(tmp / "matrix.yaml").envs)))
    return plant


ENV_LINE = "  tf2.15: {python: '3.11', packages: [tensorflow-cpu==2.15.1]}\n"
PROFILE = "profiles:\n  default: {envs: [tf2.15]}\n"


def _options(session: str, *args: str):
    """A session's command line parsed and checked as the noxfile does it (jobs, matrix, report)."""
    def plant(tmp: Path):
        from harness import cli, run

        def call():
            if session == "jobs":
                return 0, json.dumps(run.job_matrix(list(args)))
            parser = cli.report_parser if session == "report" else None
            (tmp / "loop").symlink_to(tmp / "loop")  # for the options that name it
            ctx = run.Context.from_args(["--workdir", str(tmp / "work"), "--reports", str(tmp / "reports"),
                                         *[arg.replace("LOOP", str(tmp / "loop")) for arg in args]], parser=parser)
            return 0, f"{ctx.selection.envs} threads={getattr(ctx, 'worker_threads', None)}"
        return call
    return plant


def _scan(*args: str, model=None):
    def plant(tmp: Path):
        from harness.check.security.scan import main
        from tests.unit.test_security_scan import os_keras

        path = model(tmp) if model else os_keras(tmp / "m.keras")
        return lambda: main([str(path), *args])
    return plant


def _check(*args: str, model=None):
    """check's start with the file and options (``--to tf2.15`` unless given; ``--dry-run``: nothing runs)."""
    def plant(tmp: Path):
        from harness.check import steps
        from harness.check import releases
        from harness.config import spec as spec_mod
        from harness.config.matrix_yaml import matrix_path

        path = model(tmp) if model else model_h5(tmp / "m.h5")
        to = [] if "--to" in args else ["--to", "tf2.21-keras3.15"]

        def call():
            spec = releases.with_cached(spec_mod.load(matrix_path()))
            (tmp / "loop").symlink_to(tmp / "loop")  # for the options that name it
            args_ = [arg.replace("LOOP", str(tmp / "loop")) for arg in args]
            checked = steps.start([str(path), *to, "--dry-run", "--workdir", str(tmp / "check"), *args_], spec)
            return 0, f"targets {checked.targets}"
        return call
    return plant


def _zip_keras(members: dict, flag_bits: int = 0, method: int | None = None):
    """A .keras archive with ``members`` (name -> bytes); ``flag_bits`` (1: encrypted) and ``method`` (a
    compression method zipfile lacks) are written into config.json's headers."""
    def make(tmp: Path) -> Path:
        import zipfile

        path = tmp / "m.keras"
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        if flag_bits or method is not None:
            data = bytearray(path.read_bytes())
            for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
                at = data.find(signature + b"", 0)
                while at != -1:
                    name_len = int.from_bytes(data[at + (26 if signature == b"PK\x03\x04" else 28):][:2], "little")
                    start = at + (30 if signature == b"PK\x03\x04" else 46)
                    if bytes(data[start:start + name_len]) == b"config.json":
                        data[at + flag_at] |= flag_bits
                        if method is not None:
                            data[at + method_at:at + method_at + 2] = method.to_bytes(2, "little")
                    at = data.find(signature, at + 4)
            path.write_bytes(bytes(data))
        return path
    return make


CONFIG = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": []}})
META = json.dumps({"keras_version": "3.8.0", "date_saved": "2025-01-01"})


def _records(**fields):
    """A report of a work dir whose consume record of the cell has ``fields`` (raw JSON text where a value is
    a ``Raw``)."""
    def plant(tmp: Path):
        workdir = _records_workdir(tmp)
        from tests.robustness.test_hostile_records import ENV

        path = workdir / "results" / f"consume-{ENV}.jsonl"
        first, control = path.read_text().splitlines()
        record = json.loads(first)
        raw = {key: value for key, value in fields.items() if isinstance(value, Raw)}
        record.update({key: value for key, value in fields.items() if key not in raw})
        if any(not isinstance(value, Twice) for value in raw.values()):
            record = {key: value for key, value in record.items() if key not in raw or isinstance(raw[key], Twice)}
        line = json.dumps(record)[:-1] + "".join(f', "{key}": {value}' for key, value in raw.items()) + "}"
        path.write_text(line + "\n" + control + "\n")
        return _report(tmp, workdir)
    return plant


class Raw(str):
    """JSON text written as it is into a record, in place of the key's value (a number no float holds)."""


class Twice(Raw):
    """JSON text written as it is into a record, after the key's value: the key is given twice."""


def _saved_model(plant_pb):
    def make(tmp: Path) -> Path:
        (tmp / "sm" / "variables").mkdir(parents=True)
        plant_pb(tmp / "sm" / "saved_model.pb")
        return tmp / "sm"
    return make


# (case, entry point, plant, expected status, pattern the one line must match)
TARGETED = [
    ("environment named `../escape`", "matrix.yaml", _spec_text("envs:\n  ../escape: {python: '3.11', packages: "
     "[keras==3.8.0]}\n" + ENV_LINE + PROFILE), 1, r"\.\./escape"),
    ("environment name with an ANSI escape", "matrix.yaml", _spec_text("envs:\n  \"tf\\e[31m\": {python: '3.11', "
     "packages: [keras==3.8.0]}\n" + ENV_LINE + PROFILE), 1, r"envs"),
    ("environment name of 5,000 characters", "matrix.yaml", _spec_text("envs:\n  " + "a" * 5000 + ": {python: "
     "'3.11', packages: [keras==3.8.0]}\n" + ENV_LINE + PROFILE), 1, r"not valid YAML: line 2, column 5003"),
    ("environment given twice", "matrix.yaml", _spec_text("envs:\n" + ENV_LINE + ENV_LINE + PROFILE), 1,
     r"duplicate key 'tf2.15' \(first given on line 2\)"),
    ("`python: 3.1` (a float that drops the 0 of 3.10)", "matrix.yaml", _spec_text(
        "envs:\n  tf2.15: {python: 3.1, packages: [tensorflow-cpu==2.15.1]}\n" + PROFILE), 1, r"python"),
    ("`timeouts: {load: 1e400}` (infinity)", "matrix.yaml", _spec_text("envs:\n" + ENV_LINE + PROFILE +
     "timeouts: {load: 1e400}\n"), 1, r"timeouts"),
    ("`timeouts: {load: -5}`", "matrix.yaml", _spec_text("envs:\n" + ENV_LINE + PROFILE + "timeouts: {load: -5}\n"),
     1, r"timeouts"),
    ("`tolerance: {atol: .nan}`", "matrix.yaml", _spec_text("envs:\n" + ENV_LINE + PROFILE +
     "tolerance: {atol: .nan}\n"), 1, r"atol|tolerance"),
    ("a profile naming an environment that does not exist", "matrix.yaml", _spec_text(
        "envs:\n" + ENV_LINE + "profiles:\n  default: {envs: [tf2.15, nope]}\n"), 1, r"nope"),
    ("`envs: []` (a list)", "matrix.yaml", _spec_text("envs: []\n" + PROFILE), 1, r"envs"),
    ("a package requirement `keras==` with no version", "matrix.yaml", _spec_text(
        "envs:\n  tf2.15: {python: '3.11', packages: ['keras==']}\n" + PROFILE), 1, r"keras=="),
    ("a package requirement with a URL (`keras @ file:///etc/passwd`)", "matrix.yaml", _spec_text(
        "envs:\n  tf2.15: {python: '3.11', packages: ['keras @ file:///etc/passwd']}\n" + PROFILE), 1, r"keras @"),
    ("expected_failures `expires: 2099-13-45`", "matrix.yaml", _spec_text("envs:\n" + ENV_LINE + PROFILE +
     "expected_failures:\n  - {producer: 'keras>=3', consumer: 'keras>=3', error: x, reason: r, "
     "expires: 2099-13-45}\n"), 1, r"expires"),
    ("a key that is a number (`1: x`) at the top", "matrix.yaml", _spec_text("envs:\n" + ENV_LINE + PROFILE +
     "1: x\n"), 1, r"1"),
    ("a YAML tag `!!python/object/apply:os.system`", "matrix.yaml", _spec_text(
        "envs: !!python/object/apply:os.system ['touch /tmp/kcm-pwned']\n" + PROFILE), 1,
     r"not valid YAML|python/object"),
    ("`--max-jobs -1`", "jobs", _options("jobs", "--max-jobs", "-1"), 1, r"max.jobs|at least 1"),
    ("`--max-jobs 10**30`", "jobs", _options("jobs", "--max-jobs", str(10**30)), 0, r"\{"),
    ("`--max-jobs banana`", "jobs", _options("jobs", "--max-jobs", "banana"), 2, r"--max-jobs.*banana"),
    ("`--envs ../x`", "matrix", _options("matrix", "--envs", "../x"), 1, r"\.\./x"),
    ("`--fixtures` with a NUL character", "matrix", _options("matrix", "--fixtures", "dense\0bn"), 1,
     r"dense"),
    ("`--worker-threads -5`", "matrix", _options("matrix", "--worker-threads", "-5"), 1, r"worker-threads"),
    ("`--workers-per-env 0`", "matrix", _options("matrix", "--workers-per-env", "0"), 1, r"workers-per-env"),
    ("`--compare` a loop of symbolic links", "report", _options("report", "--compare", "LOOP"), 1,
     r"--compare .*loop: cannot be read \(a loop of symbolic links\)"),
    ("`--workdir` a loop of symbolic links", "matrix", _options("matrix", "--workdir", "LOOP"), 1,
     r"--workdir .*loop: cannot be read \(a loop of symbolic links\)"),
    ("`--reports` a loop of symbolic links", "report", _options("report", "--reports", "LOOP"), 1,
     r"--reports .*loop: cannot be read \(a loop of symbolic links\)"),
    ("`--workdir` a loop of symbolic links", "check", _check("--workdir", "LOOP"), 2,
     r"--workdir .*loop"),
    ("`--level banana`", "report", _options("report", "--level", "banana"), 2, r"--level.*banana"),
    ("`--profile` with a newline", "report", _options("report", "--profile", "x\ny"), 1, r"profile"),
    ("`--to 'keras=='`", "scan", _scan("--to", "keras=="), 2, r"keras=="),
    ("`--to 'keras==3.8.0; os_name==\"posix\"'` (a marker)", "scan", _scan("--to", 'keras==3.8.0; os_name=="posix"'),
     2, r"keras==3\.8\.0"),
    ("`--to` with a right-to-left override character", "scan", _scan("--to", "keras==3.8.0\u202e"), 2,
     r"keras==3\.8\.0"),
    ("`--format xml`", "scan", _scan("--format", "xml"), 2, r"--format.*xml"),
    ("`--atol nan`", "check", _check("--atol", "nan"), 2, r"--atol"),
    ("`--atol -1`", "check", _check("--atol", "-1"), 2, r"--atol"),
    ("`--rtol 1e999`", "check", _check("--rtol", "1e999"), 2, r"--rtol"),
    ("`--call 'import os'`", "check", _check("--call", "import os"), 2, r"--call"),
    ("`--call` naming another function (`__import__('os').system('x')`)", "check",
     _check("--call", "__import__('os').system('x')"), 2, r"--call"),
    ("`--to ../x`", "check", _check("--to", "../x"), 2, r"\.\./x"),
    (".keras whose config.json is marked encrypted", "scan", _scan("--to", "keras==3.8.0", model=_zip_keras(
        {"metadata.json": META, "config.json": CONFIG}, flag_bits=1)), 2, r"m\.keras"),
    (".keras whose config.json uses compression method 99 (AES)", "scan", _scan("--to", "keras==3.8.0",
     model=_zip_keras({"metadata.json": META, "config.json": CONFIG}, method=99)), 2, r"m\.keras"),
    (".keras whose config.json is marked encrypted", "check", _check(model=_zip_keras(
        {"metadata.json": META, "config.json": CONFIG}, flag_bits=1)), 2, r"m\.keras"),
    (".keras whose config.json uses compression method 99", "check", _check(model=_zip_keras(
        {"metadata.json": META, "config.json": CONFIG}, method=99)), 2, r"m\.keras"),
    (".keras whose metadata.json is a JSON list", "check", _check(model=_zip_keras(
        {"metadata.json": "[1, 2]", "config.json": CONFIG})), 2, r"m\.keras: records no Keras or TensorFlow version"),
    (".keras whose config.json holds NaN", "scan", _scan("--to", "keras==3.8.0", "--format", "json",
     model=_zip_keras({"metadata.json": META, "config.json": '{"class_name": "Sequential", "config": '
                                                             '{"x": NaN, "layers": []}}'})), 0, r'"files"'),
    (".keras with a member named `../../evil.py`", "scan", _scan("--to", "keras==3.8.0", model=_zip_keras(
        {"metadata.json": META, "config.json": CONFIG, "../../evil.py": "x"})), 0, r"zip\\?_path\\?_traversal"),
    (".keras with config.json given twice (two members of one name)", "scan", _scan(
        "--to", "keras==3.8.0", model=_zip_keras({"metadata.json": META, "config.json": CONFIG,
                                                   "config.json ": CONFIG})), 0, r"m\.keras"),
    ("HDF5 whose model_config is not JSON (the load in each environment judges it)", "check", _check(
        model=lambda tmp: model_h5(tmp / "m.h5", model_config="{not json")), 0, r"targets"),
    ("HDF5 whose keras_version is an integer array", "check", _check(model=lambda tmp: model_h5(
        tmp / "m.h5", keras_version=[2, 15])), 2, r"keras_version|m\.h5"),
    ("HDF5 whose model_config is `null`", "scan", _scan("--to", "keras==3.8.0", model=lambda tmp: model_h5(
        tmp / "m.h5", model_config="null")), 0, r"m\.h5"),
    ("SavedModel whose saved_model.pb is a FIFO", "scan", _scan("--to", "keras==3.8.0", model=_saved_model(
        _fifo)), 2, r"named pipe"),
    ("SavedModel whose saved_model.pb links to /etc/passwd", "scan", _scan("--to", "keras==3.8.0",
     model=_saved_model(lambda p: p.symlink_to("/etc/passwd"))), 2, r"saved_model\.pb"),
    ("SavedModel whose saved_model.pb is a folder", "check", _check(model=_saved_model(_dir)), 2,
     r"saved_model\.pb"),
    ("model file whose name holds a newline", "scan", _scan("--to", "keras==3.8.0", model=lambda tmp: model_h5(
        tmp / "a\nb.h5")), 0, r"a b\.h5|a\\nb"),
    ("a record with `verdict` given twice (`pass`, then `load-error`)", "report (results/*.jsonl)",
     _records(verdict=Twice('"load-error"')), 1, r"line 1: key 'verdict' given twice in one record"),
    ("a record whose margin is 1e400 (past a float)", "report (results/*.jsonl)", _records(margin=Raw("1e400")), 1,
     r"margin"),
    ("a record whose id is a list", "report (results/*.jsonl)", _records(id=["a"]), 1, r"line 1"),
    ("a record whose max_abs is `true`", "report (results/*.jsonl)", _records(max_abs=True), 1, r"max_abs"),
    ("a record whose seconds is -1e308", "report (results/*.jsonl)", _records(seconds=-1e308), 0, r"^$"),
    ("a record whose error_message is 1 MB on one line", "report (results/*.jsonl)", _records(
        verdict="load-error", error_type="OSError", error_message="x" * 2**20, margin=None), 1,
     r"OSError|load-error|expected"),
]

# (entry point, kind) whose outcome is not the entry's status with the kind's words, and why that is right
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


def all_cases() -> list[tuple[str, str, object, object, str]]:
    return file_cases() + TARGETED


def row(index: int) -> str:
    """The table's row of case ``index``: what the case does on the code this runs against (✗: not what the
    test expects)."""
    import re
    import tempfile

    name, entry, plant, status, pattern = all_cases()[index]
    with tempfile.TemporaryDirectory() as folder:
        try:
            got, line = _outcome(plant(Path(folder)))
        except Exception as exc:  # noqa: BLE001 — a case the code cannot even set up
            got, line = "traceback", f"{type(exc).__name__}: {exc}"
        mark = "" if got == status and re.search(pattern, str(line)) else " ✗"
        line = " ".join(str(line).replace(folder, "…").split())[:150]
    return _row(name, entry, (f"{got}: {line}" if line else str(got)) + mark)


def _row(name: str, entry: str, outcome: str) -> str:
    printable = ["".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
                 for text in (name, entry, outcome)]
    cells = [text.replace("|", "\\|").replace("`", "'") for text in printable]
    cells[0] = printable[0].replace("|", "\\|")
    return "| " + " | ".join(cells) + " |"


def table(memory_bytes: int = 4 * 2**30, seconds: int = 60) -> None:
    """Print the Markdown table, each case run in its own process (at most ``memory_bytes`` of address space,
    ``seconds`` of wall time: old code that hangs or exhausts memory costs its row, not the table)."""
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    print("| case | entry point | outcome (exit status: the one line) |\n|---|---|---|", flush=True)
    for index, (name, entry, *_) in enumerate(all_cases()):
        try:
            done = subprocess.run([sys.executable, "-m", "tests.robustness.fresh_pass", str(index)], cwd=ROOT,
                                  capture_output=True, text=True, timeout=seconds, preexec_fn=limit)
            tail = (done.stderr.strip().splitlines() or ["?"])[-1][:150]
            print(done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else
                  _row(name, entry, f"killed: {tail} ✗"), flush=True)
        except subprocess.TimeoutExpired:
            print(_row(name, entry, f"hang: still running after {seconds} s ✗"), flush=True)



# --- cases added after the first table was printed (kept last: a row's index stays the same) --------------------

def _lock(*args: str):
    def plant(tmp: Path):
        from harness.config import lock
        from harness.config.matrix_yaml import matrix_path

        return lambda: (0, str(bool(lock.main([*args, "--dry-run"], matrix_path(), log=lambda line: None))))
    return plant


def _trend(*args: str):
    def plant(tmp: Path):
        from harness.report import trend

        (tmp / "file.txt").write_text("x")
        night = ROOT / "tests" / "data" / "history" / "night1.json"
        named = [arg.replace("TMP", str(tmp)).replace("NIGHT", str(night)) for arg in args]
        return lambda: (0, str(trend.main(named, log=lambda line: None)))
    return plant


def _merge_twice(tmp: Path):
    job = _job(tmp)
    return _merge(tmp, job, job)


def _merge_run(**fields):
    def plant(tmp: Path):
        job = _job(tmp)
        planned = json.loads((job / "run.json").read_text())
        text = json.dumps(dict(planned, **{k: v for k, v in fields.items() if not isinstance(v, Raw)}))
        raw = "".join(f', "{k}": {v}' for k, v in fields.items() if isinstance(v, Raw))
        (job / "run.json").write_text(text[:-1] + raw + "}")
        call = _merge(tmp, job)

        def check():
            status, line = call()
            written = (tmp / "work" / "run.json").read_text()
            return (status, line) if "Infinity" not in written and "NaN" not in written else \
                (status, f"run.json holds a bare Infinity or NaN: {written[:80]}")
        return check
    return plant


def _merge_into_job(tmp: Path):
    from harness import run

    job = _job(tmp)
    return lambda: (0, str(run.merge([str(job), "--workdir", str(job)], log=lambda line: None)))


TARGETED += [
    ("`--index-url javascript:alert(1)`", "lock", _lock("--index-url", "javascript:alert(1)"), 1,
     r"--index-url .*'javascript:alert\(1\)': not a URL"),
    ("`--index-url http://[::1` (an unclosed IPv6 address)", "lock", _lock("--index-url", "http://[::1"), 1,
     r"--index-url .*not a URL"),
    ("`--index-url file:///nonexistent`", "lock", _lock("--index-url", "file:///nonexistent-kcm-index"), 1,
     r"cannot resolve .*nonexistent-kcm-index"),
    ("`--out` inside a file (`file.txt/trend.html`)", "trend", _trend("NIGHT", "--out", "TMP/file.txt/trend.html"), 1,
     r"--out .*file\.txt/trend\.html: cannot write"),
    ("an input that does not exist", "trend", _trend("TMP/nope.json", "--out", "TMP/out/"), 1,
     r"nope\.json: no such file"),
    ("the same job folder given twice", "merge", _merge_twice, 0, r"^$"),
    ("`--workdir` one of the job folders", "merge", _merge_into_job, 1, r"--workdir .* is one of the job folders"),
    ("a job's run.json with `started: 1e400`", "merge", _merge_run(started=Raw("1e400")), 0, r"^$"),
    ("a job's run.json with `started: \"yesterday\"`", "merge", _merge_run(started="yesterday"), 0, r"^$"),
]


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:
        print(row(int(sys.argv[1])))
        sys.exit(0)  # a thread blocked on a FIFO (old code) must not keep the process alive
    table()
