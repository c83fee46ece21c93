"""docs/glossary.md defines every word the reports use, and the reports' legends point to it."""
import re

from harness import ROOT
from harness.report.marks import LABELS
from harness.report.results import LEVELS, RECORD_VERDICTS
from harness.worker.catalog import FORMATS, LOADER_TABLE

GLOSSARY = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
DEFINED = set(re.findall(r"^\| (?:`([^`]+)`|\*\*([^*]+)\*\*)", GLOSSARY, re.M))
TERMS = {term for pair in DEFINED for term in pair if term}
TERMS |= {word for row in re.findall(r"^\| \*\*(.+?)\*\*, \*\*(.+?)\*\* \|", GLOSSARY, re.M) for word in row}


def _defined(word: str) -> bool:
    return word in TERMS or re.search(rf"^\| [^|]*(`{re.escape(word)}`|\*\*{re.escape(word)}\*\*)", GLOSSARY, re.M)


def test_every_verdict_format_loader_and_level_is_defined():
    words = [*RECORD_VERDICTS, "unproven", *FORMATS, *(loader.name for loader in LOADER_TABLE), *LEVELS]
    assert [w for w in words if not (_defined(w) or f"`{w}`" in GLOSSARY)] == []


def test_every_status_of_an_expected_failures_entry_and_every_mark_is_defined():
    words = ["live", "unused", "stale", "expired", "known", "new", "n/a", "—", "✓ 3/3", "◐ 2/3", "✗ 0/3",
             "(2 known)", "(1 new)", "(1 xpass)", "(3 unproven)", "negative control", "cell", "save",
             "reused", "margin", "producer", "consumer", "as expected", "unexplained"]
    assert [w for w in words if not _defined(w)] == []
    assert LABELS  # matrix.html's labels say the same words in full


def test_the_reports_legends_link_the_glossary():
    for path in ("harness/report/markdown.py", "harness/report/templates/matrix.html.j2", "README.md"):
        assert "docs/glossary.md" in (ROOT / path).read_text(encoding="utf-8"), path
