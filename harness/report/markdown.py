"""``matrix.md``: per format and loader, producers as rows and consumers as columns."""
from __future__ import annotations

from collections import defaultdict

from tabulate import tabulate

from harness.execute.plan import CONTROL_FORMAT, CONTROL_LOADER
from harness.report.escape import md_cell, md_code, md_text
from harness.report.expectations import expected, observed
from harness.report.hints import normalize
from harness.report.history import FACT_ORDER, Comparison
from harness.report.results_file import when
from harness.report.marks import saving_rows, summarize
from harness.report.model import SIGNATURE_CHARS, ReportData, change_groups, signatures, unexpected_notes, where
from harness.report.results import LEVELS, Cell, counts
from harness.report.upgrade import Answer, answers, grid, headline, route_rows
from harness.worker.catalog import SAVED_WITH

MAX_WHERE = 6  # cells named per check-depth failure reason in matrix.md
SHOWN_SIGNATURES = 4  # per expected failure in matrix.md; matrix.html shows all


def summarize_controls(cells: list[Cell]) -> str:
    """A negative-control cell: ``✓ 3/3`` when every control that ran was a mismatch, as it must be;
    ``‼ N passed`` when any passed (the comparison could not tell fresh weights from restored ones)."""
    passed = sum(c.verdict == "pass" for c in cells)
    if passed:
        return f"‼ {passed} passed"
    ran = [c for c in cells if c.verdict not in ("unsupported", "skipped", "env-error")]
    if not ran:
        return summarize(cells)
    mismatched = sum(c.verdict == "mismatch" for c in ran)
    return f"{'✓' if mismatched == len(ran) else '✗'} {mismatched}/{len(ran)}"


def plural(n: int, word: str) -> str:
    """``1 fixture``, ``3 fixtures``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def none_unexplained(data: ReportData) -> str:
    """*Failures by error signature* without a failure no entry explains: where the known ones are."""
    known = sum(c.verdict == "xfail" for c in data.matrix_cells)
    where = f" (the {known} known failures: see Expected failures)" if known else ""
    return f"None that no expected_failures entry explains{where}."


def _table(data: ReportData, fmt: str, loader: str, summary=summarize) -> str:
    envs = data.selection.consumers
    rows = [[p] + [summary(data.cells_at(fmt, loader, p, c)) for c in envs] for p in data.selection.producers]
    return tabulate(rows, headers=["producer ↓ / consumer →"] + list(envs), tablefmt="github")


def render(data: ReportData) -> str:
    """The whole Markdown report as a string."""
    counts = data.counts()
    out = ["# Keras compatibility matrix", ""]
    goldens = f" (and {len(data.selection.goldens)} golden producers)" if data.selection.goldens else ""
    out.append(f"Profile {code(data.selection.profile)}: {len(data.selection.envs)} environments{goldens}, "
               f"{plural(len(data.selection.fixtures), 'fixture')}, {len(data.matrix_cells)} cells"
               + (f", wall time {data.wall_s:.0f} s" if data.wall_s is not None else "") + ".")
    out.append("")
    found = answers(data)
    out += _upgrade(data, found)
    out.append("Verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + ".")
    out.append("")
    out += [health(data), ""]
    out += _history(data.history)
    out += _routes(data, found)
    out += _saving(data)
    out.append("Each cell counts the fixtures that loaded and matched within tolerance over those that ran, "
               "loaded by the call users write (`load_model(path)`: it compiles). "
               "`✓` all passed; `✓*` the rest worked with the change named (`(2 with compile=False)`), seen in a "
               "real load, where the call as written failed; `◐` some did; `✗` none did. "
               "`(2 known)`: failures an expected_failures entry "
               "explains (xfail); `(1 new)`: failures no entry explains, which fail the run; `(1 xpass)`: a pass "
               "an entry claims (a stale entry, which fails the run too). `n/a` means the producer cannot write "
               "or the consumer cannot read that format. Details per cell are in matrix.html and results.json; "
               "every word of this report: docs/glossary.md.")
    out.append("")
    out += [format_legend(data), ""]
    vacuous = data.vacuous_controls
    if vacuous:
        out += ["## ‼ NEGATIVE CONTROL PASSED: COMPARISONS ARE VACUOUS", "",
                "A model with the same architecture and fresh weights matched the reference, so a `pass` "
                "here cannot tell restored weights from random ones. Do not trust this report.", ""]
        out += [f"- {line}" for line in where(vacuous)] + [""]
    level = "" if data.level == "outputs" else f" (check level: {data.level})"
    for fmt, loader in data.columns:
        out += [f"## `{fmt}` loaded with `{loader}`{level}", "", _table(data, fmt, loader), ""]
    out += _depth(data)
    out += _device_pairs(data)
    out += ["## Negative control (fresh weights must mismatch)", "", _table(data, CONTROL_FORMAT, CONTROL_LOADER,
                                                                         summarize_controls), ""]
    if data.broken_controls:
        out += ["**Controls that errored or did not run (their fixtures' comparisons are unproven):**", ""]
        out += [f"- {line}: {code(observed(c))}" for c in data.broken_controls for line in where([c])] + [""]
    groups = data.failure_groups()
    out += ["## Failures by error signature", ""]
    if not groups:
        out += [none_unexplained(data), ""]
    for group in groups:
        out += [f"### {group.verdict}: {code(group.signature)} ({plural(len(group.cells), 'cell')})", ""]
        if group.hint:
            out += [f"What to do: {group.hint}", ""]
        out += [f"- {line}" for line in where(group.cells)] + [""]
        out += _notes(group.cells)
    out += _expected_failures(data)
    out += _closest_passes(data)
    for verdict in ("unsupported", "skipped"):
        groups = data.reason_groups(verdict)
        if groups:
            out += [f"## {verdict.capitalize()} ({plural(sum(map(len, groups.values())), 'cell')})", ""]
            out += [f"- {md_text(reason)} ({plural(len(cells), 'cell')})" for reason, cells in groups.items()] + [""]
    out += ["## Environments", ""]
    rows = [[name, runner(env)] + [env["facts"].get(k, "?") for k in FACT_ORDER] + [" ".join(env["packages"])]
            for name, env in data.environments.items()]
    rows = [[md_cell(value) for value in row] for row in rows]
    out += [tabulate(rows, headers=["env", "runner", *FACT_ORDER, "requirements"], tablefmt="github"), ""]
    out += ["## Workers", "", "One worker process per environment and phase, or per shard of it (`--workers-per-env`), "
            "plus one per crash or timeout; cells whose inputs did not change since they last ran are reused, "
            "not run (`--fresh` runs them). `run` and `reused` count saves in a produce phase, and cells with their "
            "negative controls in a consume phase.", "",
            tabulate(worker_rows(data), headers=WORKER_HEADERS, tablefmt="github"), ""]
    return "\n".join(out)


WORKER_HEADERS = ["env", "phase", "workers", "run", "reused", "seconds", "peak RSS (MB)"]


def worker_rows(data: ReportData) -> list[list]:
    """Per environment and phase: workers started, cells run and reused, seconds, peak resident MB; a phase
    split over several workers (``--workers-per-env``) is followed by a row per shard (``consume shard 1/2``)."""
    def mb(peak):
        return "—" if peak is None else f"{peak / 2**20:.0f}"

    rows = []
    for name, env in data.environments.items():
        for phase, stats in env.get("phases", {}).items():
            rows.append([name, phase, stats["workers_started"], stats["cells_run"], stats["cells_reused"],
                         f"{stats['seconds']:.0f}", mb(stats["peak_rss_bytes"])])
            shards = stats.get("shards") or {}
            for number, shard in sorted(shards.items(), key=lambda item: int(item[0])):
                rows.append([name, f"{phase} shard {number}/{len(shards)}", shard["workers_started"],
                             shard["cells_run"], "", f"{shard['seconds']:.0f}", mb(shard["peak_rss_bytes"])])
    return rows


HISTORY_KINDS = (("new-failure", "New failures"), ("new-pass", "New passes"), ("changed-failure", "Changed failures"),
                 ("appeared", "Cells that appeared"), ("disappeared", "Cells that disappeared"))
HISTORY_RULES = ("A new failure is a cell (at any check level) that passed and now fails, an xfail included, or no "
                 "longer runs (unsupported, skipped), or that was unsupported or skipped and now fails; a new pass "
                 "the other way. A changed failure failed both times with another verdict or error; with another "
                 "verdict (load-error → mismatch above all) it is a regression too. A changed "
                 "difference is a pass whose margin moved by 0.1 or more, or tenfold (above 0.01). Cells that "
                 "appeared or disappeared (an environment, fixture or format added or removed) are no regressions.")


def code(text: str) -> str:
    """``text`` as a Markdown code span that nothing in it can end (``harness.report.escape.md_code``)."""
    return md_code(text)


def history_summary(history: Comparison, quote: str = "`") -> str:
    """The first line of the history section: what was compared (the path between ``quote``s), and how
    many changes of each kind."""
    escape = md_text if quote == "`" else str  # matrix.md's text; matrix.html escapes its own
    if history.note:
        return ("Could not compare: " if history.broken else "No previous results: ") + escape(history.note) + "."
    counts = history.counts()
    kinds = ", ".join(f"{counts[kind]} {title[0].lower() + title[1:]}" for kind, title in HISTORY_KINDS[:3])
    previous = md_code(history.previous) if quote == "`" else f"{quote}{history.previous}{quote}"
    return (f"Compared with {previous} (run started {when(history.previous_started)}; this run "
            f"{when(history.current_started)}): {kinds}, {counts['changed-difference']} changed differences; "
            f"{counts['appeared']} cells appeared, {counts['disappeared']} disappeared.")


def difference_rows(history: Comparison) -> list[list[str]]:
    """One row per changed difference: the cell, its check level, and its margin before and after."""
    return [[c.id, f"{c.before_margin:.3g}", f"{c.after_margin:.3g}", c.after_detail or ""]
            for c in history.of("changed-difference")]


DIFFERENCE_HEADERS = ["cell", "margin before", "margin now", "now"]


def _history(history: Comparison | None) -> list[str]:
    """The section at the top of matrix.md when the run is compared with a previous one (``--compare``)."""
    if history is None:
        return []
    out = ["## Since the previous run", "", history_summary(history), ""]
    if history.note:
        return out
    out += [HISTORY_RULES, ""]
    if history.environments:
        out += ["Environments that changed:", ""] + [f"- {md_text(e.describe())}" for e in history.environments] + [""]
    out += _change_groups(history, HISTORY_KINDS[:3])
    if history.of("changed-difference"):
        out += [f"### Changed differences ({len(history.of('changed-difference'))})", "",
                tabulate([list(map(md_cell, row)) for row in difference_rows(history)], headers=DIFFERENCE_HEADERS,
                         tablefmt="github"), ""]
    return out + _change_groups(history, HISTORY_KINDS[3:], MAX_WHERE)


def _change_groups(history: Comparison, kinds, limit: int | None = None) -> list[str]:
    out = []
    for kind, title in kinds:
        groups = change_groups(history, kind)
        if groups:
            out += [f"### {title} ({len(history.of(kind))})", ""]
        for g in groups:
            level = "" if g.level == "outputs" else f"`{g.level}` "
            detail = f": {code(g.detail)}" if g.detail else ""
            out.append(f"- {level}{md_text(g.before)} → {md_text(g.after)}{detail} ({plural(len(g.changes), 'cell')})")
            out += [f"  - {md_text(line)}" for line in g.where[:limit]]
            if limit and len(g.where) > limit:
                out.append(f"  - and {len(g.where) - limit} more (results.json's history lists them all)")
        out += [""] if groups else []
    return out


def runner(env: dict) -> str:
    """How an environment of the report ran: ``venv``, ``docker``, ``docker gpu``, plus its image if named."""
    words = [env["runner"]] + (["gpu"] if env["device_requested"] == "gpu" else []) + \
        ([env["image"]] if env["image"] else [])
    return " ".join(words)


def device_pair_rows(data: ReportData) -> list[list[str]]:
    """Per device pair: its cells, their verdicts, and the range of the ``atol`` and ``rtol`` that
    matrix.yaml gives them (also to the cells that did not run)."""
    rows = []
    for pair, cells in data.device_pairs().items():
        tolerances = [data.selection.tolerance_for(c.fixture, c.format, c.producer, c.consumer) for c in cells]
        spans = []
        for key in ("atol", "rtol"):
            values = sorted({getattr(t, key) for t in tolerances})
            spans.append(f"{values[0]:g}" if len(values) == 1 else f"{values[0]:g} to {values[-1]:g}")
        rows.append([pair, str(len(cells)), ", ".join(f"{v} {n}" for v, n in counts(cells).items()), *spans])
    return rows


DEVICE_PAIR_HEADERS = ["producer>consumer device", "cells", "verdicts", "atol", "rtol"]


def _device_pairs(data: ReportData) -> list[str]:
    """The device-pair table: a model saved on one device and loaded on another."""
    return ["## Device pairs", "",
            "Cells by the devices their environments declare (`device` in matrix.yaml; results.json has the "
            "device TensorFlow really used in each). Across devices the kernels differ, so matrix.yaml's "
            "`tolerance.overrides` may loosen `gpu>cpu` and `cpu>gpu`.", "",
            tabulate(device_pair_rows(data), headers=DEVICE_PAIR_HEADERS, tablefmt="github"), ""]


DEPTH_TEXT = ("Of the cells that loaded: `outputs` within tolerance; `weights` every weight equal (matched by "
              "order and shape); `compile` optimizer class and iteration count restored; `training` one more "
              "step gives the producer's next weights. `—`: the level does not apply to that loader (or no "
              "cell loaded). Read the tables at another level with `nox -s report -- --level weights`.")


def depth_tables(data: ReportData) -> tuple[list[list[str]], list[tuple[tuple[str, str, str], list[Cell]]]]:
    """The check-depth table's rows (per format and loader, passes over checks run at each level), and its
    failures grouped by (level, verdict, reason), the largest group first."""
    rows, failed = [], defaultdict(list)
    for fmt, loader, levels in data.depth():
        rows.append([f"{fmt} / {loader}"] + [
            f"{sum(c.verdict == 'pass' for c in cells)}/{len(cells)}" if cells else "—"
            for cells in levels.values()])
        for level, cells in levels.items():
            for c in cells:
                if c.verdict not in ("pass", "unsupported") and level != "outputs":
                    found = (c.levels or {}).get(level, {})
                    reason = c.level_reason(level) or ("the values differ from the producer's beyond tolerance "
                                                       "(max abs diff per cell in results.json)"
                                                       if found.get("max_abs") is not None else c.verdict)
                    failed[(level, c.verdict, normalize(reason))].append(c)
    return rows, sorted(failed.items(), key=lambda kv: -len(kv[1]))


def _depth(data: ReportData) -> list[str]:
    """The check-depth table and its failures by reason."""
    rows, failed = depth_tables(data)
    out = ["## Check depth", "", DEPTH_TEXT, "",
           tabulate(rows, headers=["format / loader", *LEVELS], tablefmt="github"), ""]
    if failed:
        out += ["### Check-depth failures by reason", ""]
        for (level, verdict, reason), cells in failed:
            out += [f"- `{level}` {verdict}: {md_text(reason)} ({plural(len(cells), 'cell')})"]
            out += [f"  - {line}" for line in where(cells)[:MAX_WHERE]]
        out += [""]
    return out


def _expected_failures(data: ReportData) -> list[str]:
    out = ["## Expected failures", ""]
    if not data.expectations:
        return out + ["matrix.yaml has no expected_failures entries.", ""]
    unused = [o for o in data.expectations if o.status == "unused"]
    for outcome in data.expectations:
        if outcome.status == "unused":
            continue
        e = outcome.entry
        scope = ", ".join(f"{key} {value}" for key, value in e.scope)
        pair = f"`{e.producer}` → `{e.consumer}`" if e.consumer else f"`{e.producer}` saving"
        head = f"### `{e.key_path}`: {pair}" + (f", {scope}" if scope else "")
        out += [f"{head}: {outcome.status}, {len(outcome.xfail)} xfail", "",
                f"Expects {code(expected(e))}"
                + ("" if e.level == "outputs" else f" at the `{e.level}` level") + ".", ""]
        out += [md_text(e.reason + (f" ({e.link})" if e.link else "")) + f" Expires {e.expires.isoformat()}.", ""]
        shown = signatures(outcome.xfail)
        out += [f"- {verdict}: {code(sig)} ({plural(n, 'cell')})" for verdict, sig, n in shown[:SHOWN_SIGNATURES]]
        if len(shown) > SHOWN_SIGNATURES:
            out.append(f"- and {len(shown) - SHOWN_SIGNATURES} more signatures (matrix.html lists them all)")
        if outcome.xpass:
            claimed = plural(len(outcome.xpass), "cell")
            out += ["", f"**Stale: it claims {claimed} that passed; narrow or remove it:**", ""]
            out += [f"- {line}" for line in where(outcome.xpass)]
        if outcome.unmatched:
            out += [""] + _notes(outcome.unmatched, "It covers failing cells it does not expect; they fail the run")
        if outcome.unknown:
            out += [""] + _notes(outcome.unknown, "It is keyed by what a model holds, and these failing cells' records "
                                 "do not say (saved before producers recorded it: produce them again); they fail "
                                 "the run")
        if outcome.expired:
            out += [f"**Expired: its {len(outcome.unexplained)} failing cells count as failures again; "
                    "renew it (with a new expires) or fix the cause.**"]
        out.append("")
    if unused:
        out += [unused_line(unused), ""]
    return out


def unused_line(unused: list) -> str:
    """One line for the entries that matched no cell of this run (``unused``: their cells were not selected,
    or no longer fail)."""
    return (f"Unused (no cell of this run matched them: not selected, or no longer failing) ({len(unused)}): "
            + ", ".join(o.entry.key_path for o in unused) + ".")


def _notes(cells: list[Cell], title: str = "Covered by an entry that expects another failure") -> list[str]:
    """The cells that covering expected_failures entries expected to fail another way, each with what the
    entry expects and what the cell did (at most ``MAX_WHERE``; results.json has every cell's note)."""
    lines = unexpected_notes(cells)
    if not lines:
        return []
    more = [f"- and {len(lines) - MAX_WHERE} more (results.json: expectation_note)"] if len(lines) > MAX_WHERE else []
    head = f"**{title} ({plural(len(lines), 'cell')}):**"
    return [head, ""] + [f"- {code(line)}" for line in lines[:MAX_WHERE]] + more + [""]


def health(data: ReportData) -> str:
    """The run's health, apart from the upgrade answer: whether every failure is one an expected_failures
    entry explains (the exit status follows it), or what fails the run."""
    problems = data.problems()
    return ("**Run health: fails** (exit status 1): " + "; ".join(map(md_text, problems)) + "." if problems else
            "**Run health: passes** (exit status 0): every failure above is one a live expected_failures entry "
            "explains, and every negative control mismatched.")


def _upgrade(data: ReportData, found: list[Answer]) -> list[str]:
    """The report's first section: per producer → consumer pair, can a model move (``harness.report.upgrade``)."""
    level = "" if data.level == "outputs" else f", checked through the `{data.level}` level"
    return ["## Can I upgrade?", "", headline(found), "",
            tabulate(grid(data, found), headers=["producer ↓ / consumer →"] + list(data.selection.consumers),
                     tablefmt="github"), "",
            f"`✓ h5`: works as written, by that format: the call users write to read it (`load_model(path)` with\n"
            f"its defaults, for a full model) carries every fixture{level}; `✓* h5`: works with a change (named\n"
            "under Routes), seen to work in a real load; `✗ 18/20`: does not work, the best route carries 18 of\n"
            "20 fixtures; `n/a`: nothing ran.", ""]


def _routes(data: ReportData, found: list[Answer]) -> list[str]:
    """The Routes table: per pair, its answer, the best route first, and how many others carry every fixture."""
    level = "" if data.level == "outputs" else f" at the `{data.level}` level"
    return ["## Routes", "",
            "Per producer → consumer pair, the best format/loader column to move a model by: the first, in the\n"
            "order the call users make comes first (`load_model` of a full model), that carries every fixture"
            f"{level},\n"
            "else the one that carries the most. `others`: how many more columns carry every fixture\n"
            "(matrix.html lists them).", "",
            tabulate(route_rows(found), headers=["producer → consumer", "answer", "best route", "others"],
                     tablefmt="github"), ""]


def _saving(data: ReportData) -> list[str]:
    """The saving table (per producer and format, over the fixtures) and the saves that failed."""
    out = ["## Saving", "",
           "Per producer and format, the fixtures saved over those it tried (`n/a`: the producer cannot write the "
           "format, or a fixture's BACKENDS/MIN_KERAS exclude it). A save that fails fails the run unless an "
           "expected_failures entry with `phase: produce` explains it; its artifacts' cells are skipped.", "",
           tabulate([[p] + [text for text, _ in row] for p, row in saving_rows(data)],
                    headers=["producer"] + list(data.selection.formats), tablefmt="github"), ""]
    groups: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for c in data.saves:
        if c.failed or c.verdict == "xfail":
            groups[(c.original_verdict or c.verdict, normalize(c.signature)[:SIGNATURE_CHARS])].append(c)
    for (verdict, sig), cells in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        known = " (known)" if all(c.verdict == "xfail" for c in cells) else ""
        out.append(f"- {verdict}{known}: {code(sig)} ({len(cells)} saves): {'; '.join(where(cells))}")
    out += [""] if groups else []
    return out + _notes(data.saves)


def _closest_passes(data: ReportData) -> list[str]:
    closest = data.closest_passes()
    out = ["## Closest passes", "",
           "The passes nearest the edge of their tolerance: margin is max abs diff / (atol + rtol·abs(expected)) "
           "over the outputs, and a cell passes up to 1.", ""]
    if not closest:
        return out + ["No pass recorded a margin.", ""]
    rows = [[f"{c.margin:.3f}", c.producer, c.consumer, c.fixture, f"{c.format}/{c.loader}",
             f"{c.max_abs:.3g}", f"{c.atol:g}", f"{c.rtol:g}"] for c in closest]
    return out + [tabulate(rows, headers=["margin", "producer", "consumer", "fixture", "format/loader",
                                          "max abs diff", "atol", "rtol"], tablefmt="github"), ""]


def format_legend(data: ReportData) -> str:
    """``Formats, by the call that saved them: `h5` `model.save("model.h5")`; ...`` for the run's formats
    (``harness.worker.catalog.SAVED_WITH``), so that ``h5_weights`` and ``keras_weights`` read apart."""
    return "Formats, by the call that saved them: " + "; ".join(
        f"{md_code(fmt)} {md_code(SAVED_WITH[fmt])}" for fmt in data.selection.formats) + "."
