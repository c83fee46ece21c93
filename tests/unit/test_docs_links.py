"""Every relative link of README.md and docs/*.md leads somewhere: the file exists and, for
`path#anchor` or `#anchor`, the file has a heading with that anchor (GitHub's slugs). Every path of the
code they name (`harness/...`, `benchmarks/...`) exists, and docs/layout.md names every module of the
harness (itself, or its folder)."""
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`[^`]*`")
CODE_PATH = re.compile(r"`((?:harness|benchmarks)/[^`\s]*)`")


def prose_lines(text):
    """(line number, line) of each line outside fenced code blocks, 1-based."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield number, line


def slug(heading):
    """GitHub's anchor of a heading's text (github-slugger): the rendered text lowercased, every
    character other than a letter, digit, mark, space, hyphen or underscore dropped, each space a
    hyphen. Links in the heading count by their text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    kept = "".join(c for c in text if c.isalnum() or c in " -_" or unicodedata.category(c).startswith("M"))
    return kept.replace(" ", "-")


def anchors(path):
    """The anchors of a Markdown file's headings; a repeated slug gets -1, -2, ... as on GitHub."""
    seen, found = {}, set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path):
    """'file:line: target (why)' for each relative link of a Markdown file that leads nowhere."""
    problems = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT)}:{number}: {target}"
            if not linked.exists():
                problems.append(f"{where} (no such file)")
            elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
                problems.append(f"{where} (no heading with anchor #{anchor} in {linked.name})")
    return problems


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def missing_code_paths(path):
    """'file:line: path' for each path of the code (a file, a folder or a glob) a Markdown file names in
    backticks, outside fenced blocks, that matches nothing in the repository."""
    return [f"{path.name}:{number}: {named}"
            for number, line in prose_lines(path.read_text(encoding="utf-8"))
            for named in CODE_PATH.findall(line)
            if not ((ROOT / named).exists() or ("*" in named and any(ROOT.glob(named))))]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_of_the_code_named_exists(path):
    assert missing_code_paths(path) == []


def test_the_layout_names_every_module_of_the_harness():
    rows = [line for line in (ROOT / "docs" / "layout.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")]
    named = {path for row in rows for path in CODE_PATH.findall(row.split(" | ")[0])}
    modules = [p.relative_to(ROOT) for p in sorted((ROOT / "harness").rglob("*.py")) if p.name != "__init__.py"]
    assert len(modules) > 50
    assert [str(m) for m in modules if str(m) not in named and f"{m.parent}/" not in named] == []


def test_a_code_path_that_is_gone_is_caught(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("`harness/run.py` `harness/worker/*.py` `harness/gone.py` `harness/*.nothing`\n"
                   "```\n`harness/fenced.py`\n```\n")
    assert missing_code_paths(doc) == ["a.md:1: harness/gone.py", "a.md:1: harness/*.nothing"]


def test_the_docs_folder_holds_the_references():
    assert len(DOCUMENTS) > 1
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in DOCUMENTS[1:]:
        lines = doc.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# "), f"{doc.name}: the first line is its title"
        assert "(../README.md)" in lines[2], f"{doc.name}: a link back to the README under the title"
        assert f"(docs/{doc.name})" in readme, f"{doc.name}: the README links to it"


def test_the_readme_gives_the_command_ci_runs():
    last = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()][-1]
    assert last == "python3 -m pip install -e . && python3 -m nox -s tests"
    assert last in (ROOT / "README.md").read_text(encoding="utf-8")


def test_slugs_follow_github():
    assert slug("Docker: CPU and GPU images") == "docker-cpu-and-gpu-images"
    assert slug("`expected_failures[2]`: `keras<2.12` → `keras>=3`") == "expected_failures2-keras212--keras3"
    assert slug("Security: what a file would run, per target version") == \
        "security-what-a-file-would-run-per-target-version"
    assert slug("matrix.yaml") == "matrixyaml"


def test_a_missing_file_and_a_missing_anchor_are_caught(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Tolerance\n\n```\n## Fenced\n```\n## Tolerance\n")
    readme = tmp_path / "README.md"
    readme.write_text("[ok](docs/a.md#tolerance) [again](docs/a.md#tolerance-1) [web](https://x.org/#y)\n"
                      "`[code](nowhere.md)`\n"
                      "[gone](docs/b.md) [no anchor](docs/a.md#fenced) [self](#nothing)\n"
                      "```\n[fenced](nowhere.md)\n```\n")
    assert broken_links(readme) == [
        "README.md:3: docs/b.md (no such file)",
        "README.md:3: docs/a.md#fenced (no heading with anchor #fenced in a.md)",
        "README.md:3: #nothing (no heading with anchor #nothing in README.md)",
    ]
