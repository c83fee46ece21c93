"""Damaged result records: each is named (file, record, why), left out, and fails the run; the reports
are still written. A work dir planned from another matrix.yaml is said so."""

import json
import math
from pathlib import Path

import pytest

from harness import run
from harness.config.matrix_yaml import matrix_path, matrix_sha256
from harness.execute.plan import cell_id

ENV, FIXTURE = "tf2.15", "dense_bn"
CELL = cell_id(ENV, ENV, FIXTURE, "h5", "load_model")


def _workdir(tmp_path: Path, **fields) -> Path:
    """A run of one environment whose consume record of CELL has ``fields`` planted in it."""
    workdir = tmp_path / "work"
    (workdir / "results").mkdir(parents=True)
    (workdir / "run.json").write_text(
        json.dumps(
            {
                "profile": "default",
                "envs": [ENV],
                "fixtures": [FIXTURE],
                "formats": ["h5"],
                "goldens": [],
                "started": 1.0,
            }
        )
    )
    saved = {
        "phase": "produce",
        "id": f"{ENV}/{FIXTURE}/h5",
        "producer": ENV,
        "fixture": FIXTURE,
        "format": "h5",
        "verdict": "saved",
        "device": "cpu",
        "seconds": 1.0,
    }
    (workdir / "results" / f"produce-{ENV}.jsonl").write_text(json.dumps(saved) + "\n")
    record = dict(
        {
            "phase": "consume",
            "id": CELL,
            "producer": ENV,
            "consumer": ENV,
            "fixture": FIXTURE,
            "format": "h5",
            "loader": "load_model",
            "verdict": "pass",
            "max_abs": 0.0,
            "max_rel": 0.0,
            "margin": 0.0,
            "atol": 1e-6,
            "rtol": 1e-5,
            "seconds": 1.0,
            "levels": {},
        },
        **fields,
    )
    (workdir / "results" / f"consume-{ENV}.jsonl").write_text(json.dumps(record, allow_nan=True) + "\n")
    return workdir


def _report(tmp_path: Path, workdir: Path) -> tuple[list[str], list[str], dict]:
    lines = []
    ctx = run.Context.from_args(
        [
            "--workdir",
            str(workdir),
            "--reports",
            str(tmp_path / "reports"),
            "--envs",
            ENV,
            "--fixtures",
            FIXTURE,
            "--no-goldens",
        ]
    )
    problems = run.report(ctx, log=lines.append)
    return problems, lines, json.loads((tmp_path / "reports" / "results.json").read_text())


@pytest.mark.parametrize(
    "fields, why",
    [
        ({"verdict": "banana"}, "verdict 'banana' is none of pass, works-with, mismatch"),
        ({"verdict": 5}, "verdict 5 is none of"),
        ({"max_abs": math.nan}, "a pass with max_abs nan"),
        ({"margin": math.inf}, "a pass with margin inf"),
        ({"margin": "0.5"}, "margin '0.5' is not a number"),
        ({"levels": "deep"}, "levels 'deep' is not a mapping of check levels"),
        ({"levels": {"weights": "pass"}}, "levels {'weights': 'pass'} is not a mapping"),
        ({"error_message": ["a"]}, "error_message ['a'] is not text"),
    ],
)
def test_a_damaged_record_is_named_left_out_and_fails_the_run(tmp_path, fields, why):
    workdir = _workdir(tmp_path, **fields)
    problems, _, results = _report(tmp_path, workdir)
    path = workdir / "results" / f"consume-{ENV}.jsonl"
    assert problems[0].startswith(f"{path}: record {CELL!r} left out: {why}")
    assert "\n" not in problems[0]
    cell = next(c for c in results["cells"] if c["id"] == CELL)
    assert cell["verdict"] == "skipped" and "left out" in cell["reason"]


def test_the_same_record_undamaged_passes(tmp_path):
    problems, _, results = _report(tmp_path, _workdir(tmp_path))
    assert next(c for c in results["cells"] if c["id"] == CELL)["verdict"] == "pass"
    assert not any("left out" in p for p in problems)


def test_a_work_dir_planned_from_another_matrix_yaml_is_said_so(tmp_path):
    workdir = _workdir(tmp_path)
    planned = json.loads((workdir / "run.json").read_text())
    (workdir / "run.json").write_text(json.dumps(dict(planned, matrix_sha256="0" * 64)))
    _, lines, _ = _report(tmp_path, workdir)
    assert any(
        line.startswith(
            f"WARNING: {workdir / 'run.json'}: the run was planned from another matrix.yaml (SHA-256 000000000000…)"
        )
        for line in lines
    )
    (workdir / "run.json").write_text(json.dumps(dict(planned, matrix_sha256=matrix_sha256(matrix_path()))))
    assert not any("another matrix.yaml" in line for line in _report(tmp_path, workdir)[1])


def test_a_record_line_that_is_not_utf8_is_named_with_its_file_line_and_byte(tmp_path):
    # Read with replacement, the line was skipped as garbage: its cell read "no result", its bytes unnamed.
    workdir = _workdir(tmp_path)
    path = workdir / "results" / f"consume-{ENV}.jsonl"
    good = path.read_bytes()
    bad = good.replace(b'"verdict": "pass"', b'"verdict": "pa\xffss"')
    path.write_bytes(b'{"phase": "consume"}\n' + bad)
    problems, _, results = _report(tmp_path, workdir)
    offset = len(b'{"phase": "consume"}\n') + bad.index(b"\xff")
    line = f"{path}: line 2 (byte {offset} of the file: " + repr(b"\xffss\"") + ") is not UTF-8 text; left out"
    assert line in problems, problems
    assert next(c for c in results["cells"] if c["id"] == CELL)["verdict"] != "pass"


def test_a_raw_line_separator_inside_a_record_does_not_split_it(tmp_path):
    # str.splitlines() broke a record at a raw U+2028 (legal inside a JSON string) and lost it.
    workdir = _workdir(tmp_path, error_message=None)
    path = workdir / "results" / f"consume-{ENV}.jsonl"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(dict(record, note="a\u2028b\x85c"), ensure_ascii=False) + "\n", encoding="utf-8")
    problems, _, results = _report(tmp_path, workdir)
    assert next(c for c in results["cells"] if c["id"] == CELL)["verdict"] == "pass", problems
