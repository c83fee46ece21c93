"""The fresh pass's targeted cases (round 2): one hostile value at one entry point (matrix.yaml keys and
values, the sessions' options, model files, records), each with the outcome it must end with."""
from __future__ import annotations

import json
from pathlib import Path

from tests.robustness.fresh_files import _dir, _fifo, _job, _merge, _records_workdir, _report, model_h5
from tests.robustness.fresh_pass_outcome import ROOT

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
