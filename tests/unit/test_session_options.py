"""The first ten minutes with the sessions' command lines: each session prints its own ``--help`` (the
matrix's lists matrix.yaml's profiles, fixtures and formats); a bad selection stops nox before any session
runs, its one line last on the screen; ``nox -l`` fits a screen; ``--formats``, ``--from`` and ``--to``
narrow a run and a report and are checked like ``--fixtures``."""
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from harness import ROOT, cli, preflight, run
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute.plan import consume_cells, produce_cells, select
from harness.report import build
from harness.report.results import resolve

SHIPPED = spec.load(DEFAULT_MATRIX)
FIXTURES = ROOT / "fixtures"
RUN = ROOT / "tests" / "data" / "run-default"  # tf2.10 ... tf2.21-keras3.15, dense_bn, small_cnn, twin_dense


def _help(session: str) -> str:
    out = io.StringIO()
    with pytest.raises(SystemExit) as stopped:
        preflight.check(["nox", "-s", session, "--", "--help"], SHIPPED, None, environ={}, out=out)
    assert stopped.value.code == 0
    return out.getvalue()


def test_the_matrix_help_lists_the_profiles_fixtures_and_formats_of_matrix_yaml():
    text = _help("matrix")
    assert text.startswith("usage: nox -s matrix -- ")
    for name in [*SHIPPED.profiles, *SHIPPED.envs, *SHIPPED.formats, "dense_bn", "subclassed"]:
        assert name in text
    assert "quick          3 environments: one Keras 2 in TF" in text
    assert "--workers-per-env" in text and "--formats" in text and "--from" in text and "--to" in text


@pytest.mark.parametrize("session, own, foreign", [
    ("report", ["usage: nox -s report -- ", "--level", "--compare", "--formats", "--from"],
     ["--fresh", "--workers-per-env", "--worker-threads", "--quiet", "Run the compatibility matrix"]),
    ("images", ["usage: nox -s images -- ", "--profile", "--envs"], ["--fresh", "--level", "--compare"]),
    ("jobs", ["usage: nox -s jobs -- ", "--max-jobs", "--profile"], ["--fresh", "--level", "--reports"]),
    ("consume(env='tf2.15')", ["usage: nox -s consume -- ", "--workers-per-env"], []),
])
def test_each_session_prints_its_own_help(session, own, foreign):
    text = _help(session)
    assert all(word in text for word in own), text
    assert not any(word in text for word in foreign), text


@pytest.mark.parametrize("parser, args", [(cli.golden_parser, ["--help"]), (cli.merge_parser, ["--help"])])
def test_the_sessions_that_parse_as_they_run_have_their_own_help_too(parser, args, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(args)
    assert capsys.readouterr().out.startswith(f"usage: {parser().prog}")


@pytest.mark.parametrize("posargs, line", [
    (["--profile", "quik"], "nox -s matrix: --profile quik: no such profile (defined: atlas, backends, default, "
                            "docker, keras3-minors, legacy, nightly, quick, roundtrip)"),
    (["--fixtures", "dense_bm"], "nox -s matrix: --fixtures: no fixture dense_bm in "),
    (["--envs", "tf2.99"], "nox -s matrix: --envs: no environment named tf2.99 (defined: keras3.0-jax, keras3.1-jax, "),
    (["--formats", "h6"], "nox -s matrix: --formats: no format named h6 (defined: h5, keras, savedmodel, "
                          "tf_saved_model, export, weights_h5, weights.h5, checkpoint, json)"),
    (["--from", "tf9"], "nox -s matrix: --from: no producer named tf9 (defined: keras3.0-jax, keras3.1-jax, "),
    (["--to", "tf9"], "nox -s matrix: --to: no consumer named tf9 (defined: keras3.0-jax, keras3.1-jax, "),
    (["--bogus"], "nox -s matrix: unrecognized arguments: --bogus (nox -s matrix -- --help lists the options)"),
    (["--profile"], "nox -s matrix: argument --profile: expected one argument (nox -s matrix -- --help lists"),
])
def test_a_bad_selection_stops_before_any_session_with_one_line(posargs, line):
    err = io.StringIO()
    with pytest.raises(SystemExit) as stopped:
        preflight.check(["nox", "-s", "matrix", "--", *posargs], SHIPPED, None, environ={}, err=err)
    assert stopped.value.code == 2
    assert err.getvalue().startswith(line) and err.getvalue().count("\n") == 1


@pytest.mark.parametrize("argv, sessions", [
    (["nox"], ["matrix"]),
    (["nox", "-j", "2", "--", "--profile", "quick"], ["matrix"]),
    (["nox", "-s", "report", "check"], ["report", "check"]),
    (["nox", "--session=consume(env='tf2.15')"], ["consume"]),
    (["nox", "-t", "produce"], ["produce"]),
    (["nox", "-l"], None), (["nox", "--usage", "matrix"], None), (["nox", "-k", "matrix"], None),
    (["nox", "--parallel-worker", "-s", "matrix"], None),
])
def test_the_sessions_a_nox_command_names(argv, sessions):
    assert preflight.requested_sessions(argv, {}) == sessions


def test_sessions_without_the_matrix_options_are_not_checked():
    assert preflight.check(["nox", "-s", "lint", "--", "--whatever"], SHIPPED, None, environ={}) is None
    assert preflight.check(["nox", "-s", "check", "--", "--help"], SHIPPED, None, environ={}) is None


def _nox(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k not in ("NOXSESSION", "KCM_LIST_PHASES")})


def test_a_typo_is_the_last_line_on_the_screen_and_nothing_runs():
    done = _nox("-s", "matrix", "--", "--profile", "quik")
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert lines[-1].startswith("nox -s matrix: --profile quik: no such profile") and len(lines) == 1


def test_nox_list_fits_a_screen_and_says_how_to_list_the_phases():
    listed = _nox("-l")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert len(lines) <= 40, listed.stdout
    assert not any(line.startswith(("- produce(", "- consume(", "- check_in(")) for line in lines)
    assert any("nox -l -t phase" in line for line in lines)
    sessions = [line for line in lines if line.startswith(("* ", "- "))]
    assert {"matrix", "report", "check", "scan", "lock", "tests"} <= {line[2:].split(" ")[0] for line in sessions}
    assert all(line.rstrip().endswith((".", ")")) for line in sessions), "a description cut mid-sentence"
    phases = _nox("-l", "-t", "phase").stdout
    assert "produce(env='tf2.15') [produce,phase]" in phases and "consume(env='tf2.15')" in phases


def test_formats_from_and_to_narrow_the_selection_and_its_cells():
    selection = select(SHIPPED, FIXTURES, "quick", fixtures=["dense_bn"], formats=["h5", "keras"],
                       producers=["tf2.15"], consumers=["tf2.21-keras3.15"])
    assert selection.formats == ("h5", "keras")
    assert (selection.producers, selection.consumers) == (("tf2.15",), ("tf2.21-keras3.15",))
    assert selection.envs == ("tf2.15", "tf2.21-keras3.15")
    assert not selection.runs("consume", "tf2.15") and not selection.runs("produce", "tf2.21-keras3.15")
    assert [c["format"] for c in produce_cells(selection, "tf2.15")] == ["keras", "h5"]
    saved = [{"producer": p, "fixture": "dense_bn", "format": "h5", "verdict": "saved"} for p in ("tf2.15", "tf2.13")]
    assert {c["producer"] for c in consume_cells(selection, "tf2.21-keras3.15", saved, ROOT / "a")} == {"tf2.15"}
    # one side named: the other is the profile's environments
    only_to = select(SHIPPED, FIXTURES, "quick", consumers=["tf2.15"])
    assert only_to.producers == SHIPPED.profiles["quick"].envs and only_to.consumers == ("tf2.15",)
    only_from = select(SHIPPED, FIXTURES, "quick", producers=["tf2.15"])
    assert only_from.consumers == SHIPPED.profiles["quick"].envs and only_from.producers == ("tf2.15",)
    assert json.loads(json.dumps(selection.to_json()))["from"] == ["tf2.15"]


def test_a_report_narrowed_by_formats_from_and_to(tmp_path):
    shutil.copytree(RUN, tmp_path / "run")
    args = cli.last_selection(["--workdir", str(tmp_path / "run"), "--formats", "h5", "--from", "tf2.15",
                               "--to", "tf2.21-keras3.15", "tf2.13", "--no-goldens"])
    ctx = run.Context.from_args(args, parser=cli.report_parser)
    cells = resolve(ctx.selection, ctx.workdir)
    assert {(c.producer, c.consumer) for c in cells} == {("tf2.15", "tf2.21-keras3.15"), ("tf2.15", "tf2.13")}
    assert {c.format for c in cells} == {"h5", "negative-control"}
    data = build(ctx.spec, ctx.selection, ctx.workdir)
    assert len(data.matrix_cells) == 2 * 3  # two consumers, three fixtures, h5 by load_model
    full = cli.last_selection(["--workdir", str(tmp_path / "run")])
    assert run.Context.from_args(full, parser=cli.report_parser).selection.consumers == tuple(
        json.loads((RUN / "run.json").read_text())["envs"])
