"""Planning reads fixtures without importing them and plans one cell per loader plus a control."""
from pathlib import Path

import pytest

from harness import ROOT
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute.plan import CONTROL_FORMAT, consume_cells, discover_fixtures, produce_cells, read_fixture, select


def test_fixture_metadata_is_read_with_ast(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text('"""My model."""\nTAGS = ["x"]\nTOLERANCE = {"atol": 0.01}\n'
                    "def build(keras):\n    pass\ndef sample_inputs(rng, batch):\n    pass\n")
    fixture = read_fixture(path)
    assert (fixture.name, fixture.description, fixture.tags, fixture.tolerance) == \
        ("mine", "My model.", ("x",), {"atol": 0.01})


def test_a_fixture_s_own_cell_timeout_goes_with_each_of_its_cells_and_no_other(tmp_path):
    """applications_efficientnet declares CELL_TIMEOUT_S (tf_keras 2.16 ran past matrix.yaml's 180 s to build,
    train and save it); the supervisor reads each cell's ``timeout_s`` (tests/unit/test_supervisor.py)."""
    loaded = spec.load(DEFAULT_MATRIX)
    selection = select(loaded, ROOT / "fixtures", "quick", fixtures=["applications_efficientnet", "dense_bn"],
                       formats=["h5"])
    assert selection.fixtures["applications_efficientnet"].cell_timeout_s == 900
    assert selection.fixtures["dense_bn"].cell_timeout_s is None
    cells = produce_cells(selection, "tf2.15")
    assert {c["fixture"]: c.get("timeout_s") for c in cells} == {"applications_efficientnet": 900.0, "dense_bn": None}
    saved = [dict(c, producer="tf2.15", verdict="saved") for c in cells]
    consumed = consume_cells(selection, "tf2.21-keras3.15", saved, tmp_path)
    assert {c["fixture"] for c in consumed if c.get("timeout_s") == 900.0} == {"applications_efficientnet"}
    assert all("timeout_s" not in c for c in consumed if c["fixture"] == "dense_bn")


def test_a_fixture_without_build_is_refused_with_its_path(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("def sample_inputs(rng, batch):\n    pass\n")
    with pytest.raises(spec.SpecError, match=r"broken.py: fixture must define build\(\)"):
        read_fixture(path)


def test_a_fixture_that_does_not_parse_names_file_and_line(tmp_path):
    (tmp_path / "bad.py").write_text("def build(keras):\n    return (\n")
    with pytest.raises(spec.SpecError, match=r"bad.py:\d+: fixture does not parse"):
        discover_fixtures(tmp_path)


def test_selection_by_profile_and_envs():
    loaded = spec.load(DEFAULT_MATRIX)
    selection = select(loaded, ROOT / "fixtures", "quick")
    assert selection.envs == loaded.profiles["quick"].envs
    narrowed = select(loaded, ROOT / "fixtures", "default", ["tf2.15"])
    assert narrowed.envs == ("tf2.15",)
    with pytest.raises(spec.SpecError, match="--envs: no environment named nope"):
        select(loaded, ROOT / "fixtures", "default", ["nope"])
    with pytest.raises(spec.SpecError, match="--profile weekly: no such profile"):
        select(loaded, ROOT / "fixtures", "weekly")


def test_consume_cells_cover_every_loader_of_every_saved_artifact_and_one_control():
    loaded = spec.load(DEFAULT_MATRIX)
    selection = select(loaded, ROOT / "fixtures", "quick")
    fixture = next(iter(selection.fixtures))
    produced = [{"producer": "tf2.15", "fixture": fixture, "format": "h5", "verdict": "saved"},
                {"producer": "tf2.15", "fixture": fixture, "format": "savedmodel", "verdict": "unsupported"},
                {"producer": "tf2.15", "fixture": fixture, "format": "h5_weights", "verdict": "saved"}]
    cells = consume_cells(selection, "tf2.21-keras3.15", produced, Path("/work/artifacts"))
    assert [(c["format"], c["loader"]) for c in cells] == \
        [("h5", "load_model"), (CONTROL_FORMAT, "rebuild"), ("h5_weights", "load_weights"),
         ("h5_weights", "load_weights_by_name"), ("h5_weights", "load_weights_skip_mismatch")]
    assert cells[1]["artifact"] == "h5"
    assert len(produce_cells(selection, "tf2.15")) == len(selection.fixtures) * len(selection.formats)


def test_a_name_given_twice_is_planned_once(tmp_path):
    import dataclasses
    loaded = spec.load(DEFAULT_MATRIX)
    loaded = dataclasses.replace(loaded, formats=("h5", "keras", "h5"))
    selection = select(loaded, ROOT / "fixtures", "default", ["tf2.15", "tf2.15"], ["dense_bn", "dense_bn"])
    assert selection.envs == ("tf2.15",) and list(selection.fixtures) == ["dense_bn"]
    assert selection.formats == ("h5", "keras")
    ids = [c["id"] for c in produce_cells(selection, "tf2.15")]
    assert len(ids) == len(set(ids)) == 2


def test_an_unknown_fixture_names_the_option_or_key_it_came_from(tmp_path):
    loaded = spec.load(DEFAULT_MATRIX)
    with pytest.raises(spec.SpecError, match=r"^--fixtures: no fixture nope in "):
        select(loaded, ROOT / "fixtures", "quick", None, ["dense_bn", "nope"])
    import dataclasses
    bad = dataclasses.replace(loaded, fixtures=("nope",))
    with pytest.raises(spec.SpecError, match=r"matrix.yaml: fixtures: no fixture nope in "):
        select(bad, ROOT / "fixtures", "quick")


def test_a_tag_no_fixture_carries_is_refused_naming_the_entry(tmp_path):
    """A misspelt tag would silently match no cell, like a misspelt fixture name; so would an entry whose
    named fixtures carry none of its tags together."""
    import dataclasses
    loaded = spec.load(DEFAULT_MATRIX)
    tagged = [e for e in loaded.expected_failures if e.tags]
    assert tagged and {e.tags for e in tagged} == {("functional",), ("sequential",)}
    select(loaded, ROOT / "fixtures", "quick")  # the shipped tags are carried
    entries = list(loaded.expected_failures)
    entries[3] = dataclasses.replace(entries[3], tags=("functional", "fucntional"))
    with pytest.raises(spec.SpecError) as info:
        select(dataclasses.replace(loaded, expected_failures=tuple(entries)), ROOT / "fixtures", "quick")
    assert str(info.value).startswith(f"{loaded.path}: expected_failures[3].tags: no fixture in ")
    assert "carries the tag 'fucntional' (carried: " in str(info.value) and "functional" in str(info.value)
    # the tag is checked against every fixture file, not the selected ones: --fixtures subclassed still finds it
    assert select(loaded, ROOT / "fixtures", "quick", None, ["subclassed"]).fixture_tags == \
        {"subclassed": ("custom", "subclassed")}
    entries[3] = dataclasses.replace(entries[3], tags=("functional",), fixtures=("subclassed", "lambda_layer"))
    select(dataclasses.replace(loaded, expected_failures=tuple(entries)), ROOT / "fixtures", "quick")
    entries[3] = dataclasses.replace(entries[3], fixtures=("subclassed",))
    with pytest.raises(spec.SpecError, match=r"expected_failures\[3\]: none of its fixtures \(subclassed\) carries "
                                             r"every one of its tags \(functional\), so it matches no cell"):
        select(dataclasses.replace(loaded, expected_failures=tuple(entries)), ROOT / "fixtures", "quick")


def test_a_fixture_says_it_is_functional_or_sequential_by_the_model_it_returns():
    """The tag ``functional`` stands for a keras.Model built from keras.Input (keras.applications builds
    one), ``sequential`` for a top-level Sequential (its config names Sequential, and it breaks otherwise);
    a subclassed model is neither: it gets further where Keras cannot import another version's Functional
    class."""
    fixtures = discover_fixtures(ROOT / "fixtures")
    assert {name for name, f in fixtures.items() if not {"functional", "sequential"} & set(f.tags)} == {
        "subclassed", "nested_subclassed"}
    for name, fixture in fixtures.items():
        text = fixture.path.read_text()
        functional = "return keras.Model(" in text or "return keras.applications." in text
        assert functional == ("functional" in fixture.tags), name
        assert ("return keras.Sequential(" in text) == ("sequential" in fixture.tags), name


@pytest.mark.parametrize("line, message", [
    ("TAGS = 5", "bad.py:1: TAGS must be a list of strings, like [\"core\"], not 5"),
    ("TOLERANCE = 'abc'", "bad.py:1: TOLERANCE must be a dict with atol and/or rtol"),
    ("TOLERANCE = {'atl': 1e-3}", "bad.py:1: TOLERANCE must be a dict with atol and/or rtol, like {\"atol\": 1e-5}, "
                                  "not {'atl': 0.001}"),
    ("TOLERANCE = {'atol': -1}", "bad.py:1: TOLERANCE atol must be a finite number >= 0, not -1"),
    ("MIN_KERAS = 2.13", "bad.py:1: MIN_KERAS must be a version string like \"2.13\", not 2.13"),
    ("MAX_KERAS = 'banana'", "bad.py:1: MAX_KERAS must be a version string like \"2.13\", not 'banana'"),
    ("BACKENDS = ['tf']", "bad.py:1: BACKENDS must be a list of Keras backends (tensorflow, jax, torch), not ['tf']"),
    ("BACKENDS = []", "bad.py:1: BACKENDS must be a list of Keras backends"),
    ("CELL_TIMEOUT_S = 0", "bad.py:1: CELL_TIMEOUT_S must be seconds, a number above 0 and at most 3600, not 0"),
    ("CELL_TIMEOUT_S = 1e9", "bad.py:1: CELL_TIMEOUT_S must be seconds, a number above 0 and at most 3600"),
    ("CELL_TIMEOUT_S = '900'", "bad.py:1: CELL_TIMEOUT_S must be seconds, a number above 0 and at most 3600, "
                               "not '900'"),
    ("CELL_TIMEOUT_S = True", "bad.py:1: CELL_TIMEOUT_S must be seconds"),
])
def test_fixture_metadata_of_the_wrong_shape_is_refused_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.py"
    path.write_text(f"{line}\ndef build(keras):\n    pass\ndef sample_inputs(rng, batch):\n    pass\n")
    with pytest.raises(spec.SpecError) as info:
        read_fixture(path)
    assert message in str(info.value)


def test_a_fixture_that_is_not_utf8_is_refused_not_a_crash(tmp_path):
    (tmp_path / "latin.py").write_bytes(b"# caf\xe9\ndef build(keras):\n    pass\n")
    with pytest.raises(spec.SpecError, match=r"latin.py: fixture is not UTF-8 text"):
        read_fixture(tmp_path / "latin.py")


@pytest.mark.parametrize("option", ["--workdir", "--reports"])
def test_a_workdir_or_reports_path_that_is_a_file_is_refused_up_front(tmp_path, option):
    from harness import run
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(spec.SpecError, match=f"^{option} {tmp_path / 'a-file'}: is a file, not a folder"):
        run.Context.from_args(["--profile", "quick", option, str(tmp_path / "a-file")])


def test_a_fixtures_dir_without_fixtures_is_refused_rather_than_planning_nothing(tmp_path):
    loaded = spec.load(DEFAULT_MATRIX)
    with pytest.raises(spec.SpecError, match=r"matrix.yaml: fixtures_dir: no fixture files \(\*\.py\) in .*nope "
                                             r"\(no such folder\)"):
        select(loaded, tmp_path / "nope", "quick")


def test_the_noxfile_declares_each_selected_environment_once():
    from harness import cli
    loaded = spec.load(DEFAULT_MATRIX)
    argv = ["nox", "-s", "matrix", "--", "--envs", "tf2.15", "tf2.13", "tf2.15"]
    assert cli.selected_envs(argv, loaded) == (["tf2.15", "tf2.13"], ["tf2.15", "tf2.13"])
    assert cli.selected_envs(argv + ["--to", "tf2.13"], loaded) == (["tf2.15", "tf2.13"], ["tf2.13"])
    assert cli.selected_envs(["nox", "--", "--profile"], loaded) == (list(loaded.profiles["default"].envs),) * 2


def test_a_report_rerun_takes_the_last_runs_selection(tmp_path):
    from harness.cli import last_selection
    (tmp_path / "run.json").write_text('{"profile": "quick", "envs": ["tf2.15"], "fixtures": ["dense_bn"], '
                                       '"goldens": []}')
    args = ["--workdir", str(tmp_path), "--level", "weights"]
    assert last_selection(args) == ["--profile", "quick", "--envs", "tf2.15", "--fixtures", "dense_bn",
                                    "--no-goldens"] + args
    # an option given replaces the last run's, the others stay the last run's
    assert last_selection(["--envs", "tf2.13"] + args) == ["--fixtures", "dense_bn", "--no-goldens", "--envs",
                                                           "tf2.13"] + args
    assert last_selection(["--formats", "h5"] + args)[:6] == ["--profile", "quick", "--envs", "tf2.15", "--fixtures",
                                                             "dense_bn"]
    assert last_selection(["--workdir", str(tmp_path / "none")]) == ["--workdir", str(tmp_path / "none")]


def test_hdf5_is_saved_after_every_other_format():
    # Keras 3.15's HDF5 save drops the optimizer from the model's compile config (seen 2026-11-29).
    loaded = spec.load(DEFAULT_MATRIX)
    selection = select(loaded, ROOT / "fixtures", "quick", fixtures=["dense_bn"])
    assert [c["format"] for c in produce_cells(selection, "p")][-1] == "h5"
