"""Property tests: generated matrix.yaml documents, result records, run.json files and model-file containers
fed to the loaders and readers. The only outcomes allowed are success or the harness's own error with a
one-line message; never another exception, never a file written outside the folder the call was given."""

import json
import tempfile
import zipfile
from pathlib import Path

import h5py
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli, run
from harness.check.modelfile import UserInputError, read_model_file
from harness.ci import merge
from harness.config import spec
from harness.execute.plan import cell_id

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
ENV, FIXTURE = "tf2.15", "dense_bn"
HOSTILE_NAMES = ["..", ".", "", "../../victim", "x/../../y", "/etc/passwd", "a\0b", "tf2.15/../..", "\n", "x" * 300]
NAMES = st.sampled_from(
    [
        ENV,
        "tf2.10",
        "quick",
        "default",
        "dense_bn",
        "h5",
        "keras",
        "pass",
        "banana",
        "load_model",
        "tensorflow-cpu==2.15.1",
        "keras>=3,<2",
    ]
    + HOSTILE_NAMES
) | st.text(max_size=12)
SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=True, allow_infinity=True) | NAMES
)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4), max_leaves=20
)


def one_line(message: str) -> None:
    assert message and "\n" not in message and len(message) < 2000, message[:3000]


def listing(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() and not p.is_symlink() else None
        for p in sorted(folder.rglob("*"))
    }


# -- matrix.yaml ---------------------------------------------------------------------------------------------

ENV_SPEC = st.fixed_dictionaries(
    {"packages": st.lists(NAMES, max_size=3)},
    optional={
        "python": NAMES,
        "env": st.dictionaries(NAMES, SCALARS, max_size=2),
        "runner": NAMES,
        "backend": NAMES,
        "device": NAMES,
    },
)
MATRIX = st.fixed_dictionaries(
    {
        "envs": st.dictionaries(NAMES, ENV_SPEC | JSON, max_size=3),
        "profiles": st.dictionaries(
            NAMES, st.fixed_dictionaries({"envs": st.lists(NAMES, max_size=3)}) | JSON, max_size=2
        ),
    },
    optional={
        "timeouts": st.dictionaries(st.sampled_from(["cell_s", "startup_s"]), SCALARS),
        "expected_failures": st.lists(
            st.fixed_dictionaries({"producer": NAMES, "consumer": NAMES, "reason": NAMES, "expires": NAMES}) | JSON,
            max_size=2,
        ),
        "tolerance": JSON,
        "templates": JSON,
        "extra_pins": JSON,
        "seed": SCALARS,
        "formats": JSON,
    },
)
ANCHORS = st.integers(1, 12).map(
    lambda n: (
        "".join(
            f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" if i else "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
            for i in range(n)
        )
        + f"envs: *l{n - 1}\nprofiles: {{}}\n"
    )
)


@SETTINGS
@given(
    st.one_of(
        MATRIX.map(lambda raw: yaml.safe_dump(raw, allow_unicode=True)),
        ANCHORS,
        st.text(max_size=200),
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    )
)
def test_any_matrix_yaml_loads_or_is_one_spec_error(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "matrix.yaml"
        path.write_text(text, errors="surrogateescape")
        try:
            loaded = spec.load(path)
        except spec.SpecError as exc:
            one_line(str(exc))
        else:
            assert isinstance(loaded, spec.MatrixSpec)
        assert sorted(p.name for p in Path(folder).iterdir()) == ["matrix.yaml"]


# -- result records and run.json, through nox -s report ---------------------------------------------------

RECORD = st.fixed_dictionaries(
    {"id": st.sampled_from([cell_id(ENV, ENV, FIXTURE, "h5", "load_model")]) | NAMES},
    optional={
        key: SCALARS | JSON
        for key in (
            "verdict",
            "producer",
            "consumer",
            "fixture",
            "format",
            "loader",
            "max_abs",
            "max_rel",
            "margin",
            "atol",
            "rtol",
            "seconds",
            "levels",
            "reason",
            "error_type",
            "error_message",
            "scope",
            "artifact",
        )
    },
)
RUN_JSON = st.fixed_dictionaries(
    {},
    optional={
        "profile": NAMES | JSON,
        "envs": st.lists(NAMES, max_size=3) | JSON,
        "fixtures": st.lists(NAMES, max_size=2) | JSON,
        "goldens": JSON,
        "started": SCALARS,
        "matrix_sha256": NAMES,
        "formats": JSON,
    },
)


@SETTINGS
@given(
    st.lists(RECORD, max_size=4),
    st.lists(RECORD, max_size=3),
    JSON,
    st.dictionaries(st.sampled_from(["workers_started", "seconds", "cells"]), SCALARS | JSON) | JSON,
)
def test_any_records_report_or_fail_in_lines(consumed, produced, facts, stats):
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        workdir = base / "inside" / "work"
        (workdir / "results").mkdir(parents=True)
        for phase, records in (("consume", consumed), ("produce", produced)):
            (workdir / "results" / f"{phase}-{ENV}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            (workdir / "results" / f"{phase}-{ENV}.facts.json").write_text(json.dumps(facts))
            (workdir / "results" / f"{phase}-{ENV}.stats.json").write_text(json.dumps(stats))
        ctx = run.Context.from_args(
            [
                "--workdir",
                str(workdir),
                "--reports",
                str(base / "inside" / "reports"),
                "--envs",
                ENV,
                "--fixtures",
                FIXTURE,
                "--no-goldens",
            ]
        )
        for problem in run.report(ctx, log=lambda line: None):
            one_line(problem)
        assert sorted(p.name for p in base.iterdir()) == ["inside"]


@SETTINGS
@given(RUN_JSON | JSON)
def test_any_run_json_gives_a_selection_of_plain_names_or_none(planned):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "run.json").write_text(json.dumps(planned))
        args = ["--workdir", folder, "--reports", str(Path(folder) / "reports")]
        selection = cli.last_selection(args)
        assert selection[-4:] == args and all(isinstance(arg, str) for arg in selection)
        options = [arg for arg in selection[:-4] if arg.startswith("-")]
        assert set(options) <= {"--profile", "--envs", "--fixtures", "--no-goldens"}
        try:
            run.Context.from_args(selection)
        except spec.SpecError as exc:
            one_line(str(exc))


@SETTINGS
@given(
    st.lists(RUN_JSON | JSON, min_size=1, max_size=3),
    st.lists(
        st.sampled_from(
            [
                f"results/produce-{ENV}.jsonl",
                f"results/consume-{ENV}.jsonl",
                "logs/produce-tf2.10.log",
                "results/produce-...jsonl",
                "results/consume-x.jsonl",
            ]
        ),
        max_size=3,
    ),
)
def test_any_job_folders_merge_or_fail_in_one_line_touching_nothing_outside(plans, files):
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        dirs = []
        for i, planned in enumerate(plans):
            job = base / "jobs" / str(i)
            job.mkdir(parents=True)
            (job / "run.json").write_text(json.dumps(planned))
            for name in files:
                (job / name).parent.mkdir(exist_ok=True)
                (job / name).write_text(f"{i}\n")
            dirs.append(job)
        victim = base / "victim"
        victim.mkdir()
        (victim / "target.jsonl").write_text("precious")
        jobs_before = listing(base / "jobs")
        try:
            run.merge(
                [str(d) for d in dirs]
                + [
                    "--workdir",
                    str(base / "inside" / "a" / "b" / "work"),
                    "--reports",
                    str(base / "inside" / "reports"),
                ],
                log=lambda line: None,
            )
        except merge.MergeError as exc:
            one_line(str(exc))
        assert listing(base / "jobs") == jobs_before and listing(victim) == {"target.jsonl": b"precious"}
        assert sorted(p.name for p in base.iterdir()) == sorted(
            ["jobs", "victim"] + (["inside"] if (base / "inside").exists() else [])
        )


# -- model files -------------------------------------------------------------------------------------------

MEMBER_TEXT = (
    JSON.map(lambda v: json.dumps(v, allow_nan=True))
    | st.text(max_size=50)
    | st.sampled_from(["[" * 5000, '{"keras_version": "3.3.3"}', '{"class_name": "Functional", "config": {}}'])
)
MEMBERS = st.dictionaries(
    st.sampled_from(["metadata.json", "config.json", "model.weights.h5", "../../evil", "/abs", "x"]),
    MEMBER_TEXT,
    max_size=3,
)


@SETTINGS
@given(
    MEMBERS,
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]),
    st.sampled_from([".keras", ".zip", ""]),
    st.integers(0, 400),
)
def test_any_zip_container_reads_or_is_one_bad_input(members, method, suffix, cut):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"m{suffix}"
        with zipfile.ZipFile(path, "w", compression=method) as archive:
            for name, text in members.items():
                archive.writestr(name, text)
        if cut:  # truncated or damaged in the middle
            data = path.read_bytes()
            path.write_bytes(data[: max(4, len(data) - cut)])
        _read(path)
        assert sorted(p.name for p in Path(folder).iterdir()) == [path.name]


H5_TEXT = st.text(
    st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]), max_size=20
)  # h5py refuses NUL
ATTR = (
    H5_TEXT
    | st.binary(max_size=20).map(lambda b: b.replace(b"\0", b"0"))
    | st.integers(-(2**31), 2**31)
    | st.floats(allow_nan=True)
    | st.lists(H5_TEXT, min_size=1, max_size=3)
    | st.lists(st.integers(0, 9), min_size=1, max_size=3)
)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["keras_version", "backend", "model_config", "layer_names", "other"]), ATTR, max_size=4
    ),
    st.lists(st.sampled_from(["layers", "vars", "model_weights"]), max_size=2, unique=True),
    st.sampled_from([".h5", ".keras", ".weights.h5"]),
    st.integers(0, 3000),
)
def test_any_hdf5_container_reads_or_is_one_bad_input(attrs, groups, suffix, cut):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"m{suffix}"
        with h5py.File(path, "w") as handle:
            for key, value in attrs.items():
                handle.attrs[key] = value
            for group in groups:
                handle.create_group(group)
        if cut:
            data = path.read_bytes()
            path.write_bytes(data[: max(8, len(data) - cut)])
        _read(path)
        assert sorted(p.name for p in Path(folder).iterdir()) == [path.name]


def _read(path: Path) -> None:
    try:
        found = read_model_file(path)
    except UserInputError as exc:
        one_line(str(exc))
    else:
        assert found.format in ("h5", "keras", "h5_weights", "keras_weights") and isinstance(found.evidence, str)
