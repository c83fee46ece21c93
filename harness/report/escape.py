"""One escaping rule per report format, for any text that came from a record, a file, a config or an error.

Reports carry what a worker, a model file or a previous run said: an error message with a backtick or
``<img onerror=…>``, a layer class name, a facts value with ``|`` or a newline, ANSI colour codes.
Every report writer renders such text through these functions:

- Markdown (matrix.md, check's report.md, scan's report): :func:`md_code` (a code span, fenced with more
  backticks than the text holds, so it cannot end early), :func:`md_text` (prose: Markdown's
  punctuation backslash-escaped, ``<`` included, so no raw HTML, link, image or heading is made) and
  :func:`md_cell` (a table cell: ``|`` escaped too). Newlines become spaces: one value is one line.
- JUnit XML: :func:`xml_text` (ANSI sequences and the characters XML 1.0 cannot hold removed, lone
  surrogates replaced), so ``ElementTree`` writes a file every XML parser reads.
- JSON: :func:`strict_json` (NaN and infinities become the strings ``"NaN"``, ``"Infinity"``,
  ``"-Infinity"``: strict parsers refuse the bare words ``json.dumps`` writes).
- HTML: Jinja2's autoescape (matrix.html, trend.html), unchanged.
"""
from __future__ import annotations

import math
import re

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
# What XML 1.0 cannot hold: C0 controls but tab, newline and carriage return; surrogates; U+FFFE/FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MD_PUNCTUATION = re.compile(r"([\\`*\[\]<>&|~!])")
MD_BLOCK_START = re.compile(r"^(\s*)([#>]|[=+-](?=\s|$)|\d+[.)](?=\s|$)|[=-](?=[\s=-]*$))")
MD_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def plain(text) -> str:
    """``text`` as one printable line: ANSI sequences removed, newlines and other control characters
    (and lone surrogates) made spaces or ``?``."""
    text = ANSI.sub("", str(text))
    text = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    return CONTROL.sub(" ", text)


def md_code(text) -> str:
    """``text`` as a Markdown code span: one line, fenced with one backtick more than its longest run of
    backticks (and padded where it starts or ends with one), so nothing in it ends the span."""
    text = plain(text)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") or text.endswith(" ") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else "` `"


def md_cell_code(text) -> str:
    """:func:`md_code` for a table cell: ``|`` escaped (GitHub's tables split on it even inside a span)."""
    return md_code(text).replace("|", "\\|")


def md_text(text) -> str:
    """``text`` as Markdown prose, rendered as written: one line without spaces at its ends (they would
    indent a code block), Markdown's punctuation escaped (no raw HTML, entity, link, image, emphasis or
    code span can start), and what would start a block where the text starts a line (``#``, ``>``, ``- ``,
    ``+ ``, ``1. ``, ``---``) escaped: no heading, list, quote or rule."""
    text = MD_PUNCTUATION.sub(r"\\\1", plain(text).strip())  # leading spaces would indent a code block
    text = MD_UNDERSCORE.sub(r"\\_", text)
    return MD_BLOCK_START.sub(_escape_block_start, text, count=1)


def _escape_block_start(match: re.Match) -> str:
    marker = match.group(2)  # "1." is escaped as "1\.": a backslash escapes punctuation only
    return match.group(1) + (marker[:-1] + "\\" + marker[-1] if marker[0].isdigit() else "\\" + marker)


def md_cell(value) -> str:
    """A table cell's text: :func:`md_text` (``|`` is among what it escapes); numbers as they are."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else md_text(value)


def xml_text(text) -> str:
    """``text`` that XML 1.0 can hold: ANSI sequences and the characters it forbids removed."""
    return NOT_XML.sub("", ANSI.sub("", str(text)))


def strict_json(value):
    """``value`` with every float NaN and infinity (in dicts, lists and tuples) replaced by the string
    that names it, so ``json.dumps(..., allow_nan=False)`` writes it and strict parsers read it."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value
