"""What an expected_failures entry expects (verdict, error, max_abs): validated in matrix.yaml, and applied to
the records of the real runs in tests/data, with faults planted by editing those records."""

import dataclasses
import datetime
import json
import re
import shutil
from pathlib import Path

import pytest

from harness import report, run
from harness import ROOT
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute import golden
from harness.execute.plan import Selection, discover_fixtures
from harness.report.expectations import explains

DATA = Path(__file__).resolve().parent.parent / "data"
RUN_DATE = datetime.date(2026, 12, 7)  # the day the runs were recorded
SHIPPED = spec.load(DEFAULT_MATRIX)
# tf2.15 -> Keras 3.15 of a masked Embedding h5 (entry 25), Keras 3.15 -> tf2.15 h5 (entry 0),
# tf2.15 -> Keras 3.15 checkpoint (entry 14): three load-errors of the quick run of every fixture.
PLANTED = {  # cell: the index of the entry that explains its real failure (Keras 3's own .h5 of a mask)
    "tf2.21-keras3.15>tf2.21-keras3.15/masked_embedding/h5/load_model": next(
        e.index for e in SHIPPED.expected_failures if e.layers == ("NotEqual",) and e.formats == ("h5",)),
    "tf2.21-keras3.15>tf2.15/dense_bn/h5/load_model": 0,
    "tf2.15>tf2.21-keras3.15/dense_bn/checkpoint/Checkpoint.read": 14,
}


def _copy(tmp_path, name):
    shutil.copytree(DATA / name, tmp_path / name)
    return tmp_path / name


def _context(workdir, entries=None):
    loaded = SHIPPED if entries is None else dataclasses.replace(SHIPPED, expected_failures=tuple(entries))
    recorded = json.loads((workdir / "run.json").read_text())
    fixtures = {k: v for k, v in discover_fixtures(ROOT / "fixtures").items() if k in recorded["fixtures"]}
    goldens = {
        k: v for k, v in golden.discover(ROOT / "fixtures" / "golden").items() if k in recorded.get("goldens", [])
    }
    selection = Selection(
        recorded["profile"], tuple(recorded["envs"]), fixtures, tuple(recorded["formats"]), loaded, goldens
    )
    return run.Context(loaded, selection, workdir, workdir.parent / "reports")


def _data(workdir, entries=None):
    ctx = _context(workdir, entries)
    return report.build(ctx.spec, ctx.selection, workdir, RUN_DATE)


def _rewrite(workdir, ids, **fields):
    """Edit the recorded consume lines of the cells ``ids``: set ``fields`` (None removes a key)."""
    for path in (workdir / "results").glob("consume-*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for record in records:
            if record.get("id") in ids:
                record.update(fields)
                for key in [k for k, v in fields.items() if v is None]:
                    del record[key]
        path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _entry(index=0, **fields):
    base = dict(
        index=index, producer="keras>=0", consumer="keras>=0", reason="because", expires=datetime.date(2027, 11, 29)
    )
    return spec.ExpectedFailure(**dict(base, **fields))


@pytest.mark.parametrize("name", ["run-default", "run-quick-all", "run-default-2026-12-07"])
def test_the_recorded_runs_pass_under_the_tightened_entries(tmp_path, name):
    data = _data(_copy(tmp_path, name))
    assert data.problems() == [] and data.unexpected_failures == []
    xfails = [c for c in data.matrix_cells if c.verdict == "xfail"]
    assert xfails and all(explains(SHIPPED.expected_failures[c.expected_failure], c) for c in xfails)
    assert run.report(_context(tmp_path / name), log=lambda _: None, today=RUN_DATE) == []


def test_every_shipped_entry_names_what_it_expects():
    for e in SHIPPED.expected_failures:
        assert e.error or (e.verdict == "mismatch" and e.max_abs), e.key_path
        re.compile(e.error or "")
    # load_model(path) of Keras 3.3 fails to compile the .h5's mse; its compile=False is the silent 42.4 drift.
    (normalization,) = [e for e in SHIPPED.expected_failures
                        if e.layers == ("Normalization",) and e.formats == ("h5",)]
    assert normalization.verdict == "load-error" and "42.4" in normalization.reason
    stale = [e for e in SHIPPED.expected_failures if e.layers == ("Normalization",) and e.formats != ("h5",)]
    assert stale and all(e.verdict == "mismatch" and e.max_abs[0] < 3.5 < e.max_abs[1] for e in stale)
    (nested,) = [e for e in SHIPPED.expected_failures if "timeout" in e.reason and e.traits == ("nested_model",)]
    assert nested.verdict == "timeout"


def test_a_mismatch_planted_under_load_error_entries_fails_the_run_and_says_why(tmp_path):
    workdir = _copy(tmp_path, "run-quick-all")
    _rewrite(
        workdir,
        set(PLANTED),
        verdict="mismatch",
        max_abs=0.37,
        max_rel=0.5,
        margin=3.0,
        atol=1e-5,
        rtol=1e-4,
        error_type=None,
        error_message=None,
        error_text=None,
    )
    data = _data(workdir)
    failing = {c.id: c for c in data.unexpected_failures}
    assert set(failing) == set(PLANTED)
    for cell_id, index in PLANTED.items():
        note = failing[cell_id].expectation_note
        assert note.startswith(f"expected_failures[{index}] expects load-error `")
        assert note.endswith("got mismatch max |Δ| 0.37")
    assert data.problems()[0].startswith("3 failing cells that no live expected_failures entry explains")
    assert run.report(_context(workdir), log=lambda _: None, today=RUN_DATE) != []
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert "**Covered by an entry that expects another failure (3 cells):**" in md
    assert (
        "expected_failures[14] expects load-error `were not bound to checkpointed values`, got mismatch max |Δ| 0.37"
        in md
    )
    assert "It covers failing cells it does not expect; they fail the run" in md
    html = (tmp_path / "reports" / "matrix.html").read_text()
    mask = PLANTED["tf2.21-keras3.15>tf2.21-keras3.15/masked_embedding/h5/load_model"]
    assert f"expected_failures[{mask}] expects load-error" in html and "got mismatch max |Δ| 0.37" in html
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    # Keras 3's own masked .h5 is also covered by the entry that expects load_model(path) to work only with
    # compile=False there: it lists the planted mismatch too.
    works_with = next(e.index for e in SHIPPED.expected_failures if e.verdict == "works-with" and "h5" in e.formats)
    expected = sorted([(index, cell) for cell, index in PLANTED.items()]
                      + [(works_with, "tf2.21-keras3.15>tf2.21-keras3.15/masked_embedding/h5/load_model")])
    assert [e["unmatched"] for e in results["expected_failures"] if e["unmatched"]] == [[c] for _, c in expected]


def test_another_error_under_a_load_error_entry_is_a_failure(tmp_path):
    workdir = _copy(tmp_path, "run-default")
    cell = "tf2.21-keras3.15>tf2.15/dense_bn/h5/load_model"
    _rewrite(workdir, {cell}, error_type="OSError", error_message="Unable to open file (truncated file)")
    (got,) = _data(workdir).unexpected_failures
    assert got.id == cell and got.expectation_note.endswith(
        "got load-error `OSError: Unable to open file (truncated file)`"
    )


@pytest.mark.parametrize("drift, verdict", [(42.5, "xfail"), (3.0, "mismatch"), (4000.0, "mismatch")])
def test_a_mismatch_entry_explains_only_drifts_inside_its_band(tmp_path, drift, verdict):
    workdir = _copy(tmp_path, "run-default")
    cell = "tf2.15>tf2.16-tfkeras/dense_bn/h5/load_model"  # a recorded pass
    _rewrite(workdir, {cell}, verdict="mismatch", max_abs=drift)
    band = _entry(
        producer="keras==2.15.*",
        consumer="keras==2.16.*",
        fixtures=("dense_bn",),
        formats=("h5",),
        verdict="mismatch",
        max_abs=(10.0, 100.0),
    )
    (got,) = [c for c in _data(workdir, [band]).cells if c.id == cell]
    assert got.verdict == verdict
    if verdict == "mismatch":
        assert (
            got.expectation_note
            == f"expected_failures[0] expects mismatch max |Δ| in [10, 100], got mismatch max |Δ| {drift:g}"
        )


@pytest.mark.parametrize("verdict, converted", [("timeout", True), ("load-error", False), ("crash", False)])
def test_a_timeout_is_converted_only_by_an_entry_that_expects_one(tmp_path, verdict, converted):
    workdir = _copy(tmp_path, "run-default")
    cell = "tf2.15>tf2.16-tfkeras/dense_bn/h5/load_model"
    _rewrite(
        workdir,
        {cell},
        verdict="timeout",
        reason="cell ran past its 180 s timeout; worker killed",
        max_abs=None,
        margin=None,
    )
    entry = _entry(
        producer="keras==2.15.*",
        consumer="keras==2.16.*",
        formats=("h5",),
        verdict=verdict,
        error=r"ran past its \d+ s timeout|Error",
    )
    (got,) = [c for c in _data(workdir, [entry]).cells if c.id == cell]
    assert (got.verdict == "xfail") == converted and (got.original_verdict or got.verdict) == "timeout"


def test_the_first_entry_that_expects_the_failure_converts_it(tmp_path):
    workdir = _copy(tmp_path, "run-default")
    wrong = _entry(0, producer="keras>=3", consumer="keras<3", error="no such message")
    right = _entry(1, producer="keras>=3", consumer="keras<3", formats=("h5",), error="batch_shape")
    data = _data(workdir, [wrong, right])
    h5 = [c for c in data.matrix_cells if c.format == "h5" and c.original_verdict == "load-error"]
    assert h5 and {c.expected_failure for c in h5} == {1}
    others = [
        c
        for c in data.unexpected_failures
        if c.producer.endswith("keras3.15") and c.format == "keras" and "keras3" not in c.consumer
    ]
    assert others and all(
        c.expectation_note.startswith("expected_failures[0] expects load-error `no such message`") for c in others
    )


ENTRY = """
envs:
  tf2.15: {python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}
profiles:
  default: {envs: [tf2.15]}
expected_failures:
  - producer: "keras>=3"
    consumer: "keras<3"
    error: batch_shape
    reason: r
    expires: 2027-11-29
"""


@pytest.mark.parametrize(
    "change, message",
    [
        (
            ("error: batch_shape", "error: 'batch_shape ('"),
            "expected_failures[0].error: 'batch_shape (' is not a regular expression "
            "(missing ), unterminated subpattern",
        ),
        (
            ("    error: batch_shape\n", ""),
            "expected_failures[0]: error is missing: a load-error entry names the error",
        ),
        (
            ("error: batch_shape", "verdict: mismatch\n    error: x\n    max_abs: 3"),
            "expected_failures[0].error: a mismatch entry gives max_abs (the band of its drift) or error",
        ),
        (
            ("error: batch_shape", "error: x\n    max_abs: 3"),
            "expected_failures[0].max_abs: only a verdict: mismatch entry",
        ),
        (
            ("error: batch_shape", "verdict: mismatch\n    max_abs: [100, 10]"),
            "expected_failures[0].max_abs: expected a number or [LOW, HIGH]",
        ),
        (
            ("error: batch_shape", "verdict: mismatch\n    max_abs: [1, 2, 3]"),
            "expected_failures[0].max_abs: expected a list [LOW, HIGH]",
        ),
        (
            ("error: batch_shape", "verdict: save-error\n    error: x"),
            "expected_failures[0].verdict: 'save-error' is not a verdict of the consume phase",
        ),
        (("error: batch_shape", "verdict: pass"), "expected_failures[0].verdict: expected the cells' own verdict"),
        (("error: batch_shape", "error: x\n    level: deep"), "expected_failures[0].level: expected the check level"),
        (
            ("error: batch_shape", "error: x\n    phase: produce"),
            "expected_failures[0].consumer: an entry with phase: produce",
        ),
        (('    consumer: "keras<3"\n', ""), "expected_failures[0]: consumer is missing"),
    ],
)
def test_what_an_entry_expects_is_validated_with_its_key_path(tmp_path, change, message):
    path = tmp_path / "matrix.yaml"
    path.write_text(ENTRY.replace(*change))
    with pytest.raises(spec.SpecError) as info:
        spec.load(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_new_keys_are_read(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(ENTRY.replace("error: batch_shape", "verdict: mismatch\n    max_abs: 100\n    level: weights"))
    (entry,) = spec.load(path).expected_failures
    assert (entry.verdict, entry.error, entry.max_abs, entry.level, entry.phase) == (
        "mismatch",
        None,
        (0.0, 100.0),
        "weights",
        "consume",
    )
