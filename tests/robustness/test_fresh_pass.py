"""The fresh pass of hostile input (round 2): every case of ``tests/robustness/fresh_pass.py``, each with its
exact outcome: the exit status its nox session ends with and its one line (naming the file, key or
option), no traceback, no hang, nothing written outside the case's folder."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.robustness.fresh_pass import ROOT, _outcome, all_cases

CASES = all_cases()


def _outside() -> dict:
    """What a case must not touch: the checkout's reports/ and work/, and a marker a YAML tag would make."""
    watched = [ROOT / "reports", ROOT / "work", ROOT / "fixtures" / "golden", Path("/tmp/kcm-pwned")]
    return {str(p): sorted((str(f), f.stat().st_mtime_ns) for f in p.rglob("*")) if p.is_dir() else p.exists()
            for p in watched}


@pytest.mark.parametrize("name, entry, plant, status, pattern", CASES,
                         ids=[f"{entry}: {name}"[:90] for name, entry, *_ in CASES])
def test_a_hostile_input_has_its_exact_outcome(tmp_path, name, entry, plant, status, pattern):
    before = _outside()
    got, line = _outcome(plant(tmp_path))
    assert (got, bool(re.search(pattern, str(line)))) == (status, True), f"{entry}: {name}: {got}: {line}"
    if status != 0:
        assert "\n" not in line and "Traceback" not in line, line
    assert _outside() == before


def test_there_are_at_least_a_hundred_cases_and_each_is_named_once():
    names = [(entry, name) for name, entry, *_ in CASES]
    assert len(CASES) >= 100 and len(set(names)) == len(names)
