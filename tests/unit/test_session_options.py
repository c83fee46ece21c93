"""The first ten minutes with the sessions' command lines: each session prints its own ``--help`` (the
matrix's lists matrix.yaml's profiles, fixtures and formats); a bad selection stops nox before any session
runs, its one line last on the screen; ``nox -l`` fits a screen; ``--formats``, ``--from`` and ``--to``
narrow a run and a report and are checked like ``--fixtures``."""
import io
import json
import os
import re
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
                          "tf_saved_model, export, h5_weights, keras_weights, checkpoint, json)"),
    (["--from", "tf9"], "nox -s matrix: --from: no producer named tf9 (defined: keras3.0-jax, keras3.1-jax, "),
    (["--to", "tf9"], "nox -s matrix: --to: no consumer named tf9 (defined: keras3.0-jax, keras3.1-jax, "),
    (["--bogus"], "nox -s matrix: unrecognized arguments: --bogus (nox -s matrix -- --help lists the options)"),
    # an abbreviation is no option: `--fixture` left `--profile quick` out once and started the default profile
    (["--fixture", "dense_bn"], "nox -s matrix: unrecognized arguments: --fixture dense_bn (nox -s matrix -- "),
    (["--prof", "quick"], "nox -s matrix: unrecognized arguments: --prof quick (nox -s matrix -- --help lists"),
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
    assert preflight.check(["nox", "-s", "check_report", "--", "work/check/plan.json"], SHIPPED, None,
                           environ={}) is None
    assert preflight.check(["nox", "-s", "check", "--", "m.h5", "--to", "tf2.18"], SHIPPED, None, environ={}) is None


@pytest.mark.parametrize("session, posargs, line", [
    ("check", ["m.h5", "--bogus"], "nox -s check: unrecognized arguments: --bogus (nox -s check -- --help lists "
                                   "the options)"),
    ("check", [], "nox -s check: the following arguments are required: path (nox -s check -- --help"),
    ("check", ["m.h5", "--format", "xml"], "nox -s check: argument --format: invalid choice: 'xml'"),
    ("check", ["m.h5", "--atol", "-1"], "nox -s check: argument --atol: must be a finite number >= 0, got -1"),
    ("scan", ["m.h5", "--formt", "json"], "nox -s scan: unrecognized arguments: --formt json (nox -s scan -- "
                                          "--help lists the options)"),
    ("scan", ["m.h5", "--profile", "quik"], "nox -s scan: --profile quik: no such profile in "),
    ("scan", ["m.h5", "--profile", "quick", "--to", "tf2.15"],
     "nox -s scan: argument --to: not allowed with argument --profile"),
])
def test_check_and_scan_stop_on_a_bad_option_before_any_session_with_one_line(session, posargs, line):
    err = io.StringIO()
    with pytest.raises(SystemExit) as stopped:
        preflight.check(["nox", "-s", session, "--", *posargs], SHIPPED, None, environ={}, err=err)
    assert stopped.value.code == 2
    assert err.getvalue().startswith(line) and err.getvalue().count("\n") == 1


@pytest.mark.parametrize("session, words", [
    ("check", ["usage: nox -s check -- ", "--to", "--custom-objects", "--call", "Exit status: 0"]),
    ("scan", ["usage: nox -s scan -- ", "--profile", "--to", "Exit status: 0"]),
])
def test_check_and_scan_print_their_own_help_before_any_session(session, words):
    out = io.StringIO()
    with pytest.raises(SystemExit) as stopped:
        preflight.check(["nox", "-s", session, "--", "--help"], SHIPPED, None, environ={}, out=out)
    assert stopped.value.code == 0 and all(word in out.getvalue() for word in words)


def _nox(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k not in ("NOXSESSION", "KCM_LIST_PHASES")})


def test_a_typo_is_the_last_line_on_the_screen_and_nothing_runs():
    done = _nox("-s", "matrix", "--", "--profile", "quik")
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert lines[-1].startswith("nox -s matrix: --profile quik: no such profile") and len(lines) == 1


@pytest.mark.parametrize("args, line", [
    (["-s", "check", "--", "m.h5", "--bogus"], "nox -s check: unrecognized arguments: --bogus (nox -s check -- "
                                                 "--help lists the options)"),
    (["-s", "scan", "--", "m.h5", "--formt", "json"], "nox -s scan: unrecognized arguments: --formt json (nox -s "
                                                       "scan -- --help lists the options)"),
])
def test_a_bad_check_or_scan_option_is_the_one_line_on_the_screen(args, line):
    done = _nox(*args)
    assert done.returncode == 2
    assert (done.stdout + done.stderr).strip().splitlines() == [line]  # no "Running session", no usage block


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


def _section(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def test_a_report_narrowed_by_to_has_a_column_and_a_route_per_consumer_only(tmp_path):
    """With ``--to tf2.13`` the six producers still save, but only tf2.13 loads: the upgrade grid, the Routes
    table and every format table have tf2.13 as their one consumer (no ``—`` column for an environment that
    only produced)."""
    shutil.copytree(RUN, tmp_path / "run")
    args = cli.last_selection(["--workdir", str(tmp_path / "run"), "--to", "tf2.13", "--reports",
                               str(tmp_path / "reports")])
    ctx = run.Context.from_args(args, parser=cli.report_parser)
    producers = ("tf2.10", "tf2.13", "tf2.15", "tf2.16-tfkeras", "tf2.16-keras3.3", "tf2.21-keras3.15")
    assert ctx.selection.envs == producers and ctx.selection.consumers == ("tf2.13",)
    run.report(ctx, log=lambda _: None)
    md = (tmp_path / "reports" / "matrix.md").read_text()
    grid = _section(md, "## Can I upgrade?", "`✓ h5`").strip().splitlines()
    assert [cell.strip() for cell in grid[2].strip("|").split("|")] == ["producer ↓ / consumer →", "tf2.13"]
    assert [row.split("|")[1].strip() for row in grid[4:]] == list(producers)
    routes = [row for row in _section(md, "## Routes", "## Saving").splitlines() if " → tf" in row]
    assert [row.split("|")[1].strip() for row in routes] == [f"{p} → tf2.13" for p in producers]
    assert all(row.split("|")[3].strip() not in ("", "—") for row in routes)  # each pair's best route
    headers = [line for line in md.splitlines() if line.startswith("| producer ↓ / consumer →")]
    columns = build(ctx.spec, ctx.selection, ctx.workdir).columns
    assert len(headers) == 1 + len(columns) + 1  # the upgrade grid, each format/loader, the negative control
    assert all([h.strip() for h in line.strip("|").split("|")] == ["producer ↓ / consumer →", "tf2.13"]
               for line in headers)
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert set(re.findall(r"<tr><th>producer ↓ / consumer →</th>(.*?)</tr>", html)) == {"<th>tf2.13</th>"}
    pairs = re.findall(r"<tr><th>([^<]+ → [^<]+)</th>", _section(html, "<h2>Routes</h2>", "<h2>Saving</h2>"))
    assert pairs == ["producer → consumer"] + [f"{p} → tf2.13" for p in producers]


def test_a_one_fixture_report_reads_as_english_and_says_where_the_known_failures_are(tmp_path):
    """The README's first run is one fixture: its header says "1 fixture", and *Failures by error signature*,
    which lists only the failures no entry explains, points to the known ones instead of saying "None"."""
    shutil.copytree(RUN, tmp_path / "run")
    args = cli.last_selection(["--workdir", str(tmp_path / "run"), "--fixtures", "dense_bn", "--reports",
                               str(tmp_path / "reports")])
    ctx = run.Context.from_args(args, parser=cli.report_parser)
    run.report(ctx, log=lambda _: None)
    md = (tmp_path / "reports" / "matrix.md").read_text()
    known = sum(c.verdict == "xfail" for c in build(ctx.spec, ctx.selection, ctx.workdir).matrix_cells)
    assert known and ": 6 environments, 1 fixture, " in md.splitlines()[2]
    line = f"None that no expected_failures entry explains (the {known} known failures: see Expected failures)."
    assert _section(md, "## Failures by error signature", "##").strip() == line
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert " 1 fixture, " in html and f"<p>{line}</p>" in html


@pytest.mark.parametrize("session, args, line", [
    ("trend", [], "nox -s trend: the following arguments are required: DIR_OR_FILE (nox -s trend -- --help lists "
                  "the options)"),
    ("lock", ["--bogus"], "nox -s lock: unrecognized arguments: --bogus (nox -s lock -- --help lists the options)"),
    ("scan_proof", ["--jobs", "two"], "nox -s scan_proof: argument --jobs: invalid int value: 'two' (nox -s "
                                      "scan_proof -- --help lists the options)"),
])
def test_the_sessions_that_parse_as_they_run_end_a_bad_option_on_its_one_line(session, args, line):
    done = _nox("-s", session, "--", *args)
    assert done.returncode == 2
    assert (done.stdout + done.stderr).strip().splitlines()[-1] == line  # no usage block under nox's own line
