"""Compare a run with the previous one (its ``results.json``): what broke, what got fixed, what drifted, and
which environments changed underneath. Comparison only; ``harness.report`` renders it.

Cells are matched by their id (``producer>consumer/fixture/format/loader``); negative controls are left out
(a control that passes is already a problem of its own run). Each verdict is read as a behaviour:

- **works**: ``pass``, ``xpass`` (it loaded and matched; an xpass only means an entry claims it);
- **fails**: ``mismatch``, ``load-error``, ``crash``, ``timeout``, ``env-error``, and ``xfail`` (an expected
  failure is still a failure: an entry of matrix.yaml explains it, it does not make it work);
- **n/a**: ``unsupported``, ``skipped`` (the version cannot write or read the format, or nothing ran).

The rules, per cell and check level:

- **new failure** (a regression): it worked and now fails or is n/a, or it was n/a and now fails. So
  ``pass → xfail`` is a regression even though an entry explains it: a lock refresh that moves an
  environment into a range an entry covers still breaks what its users could load yesterday; the night it
  happens is the night to go red, and the next night (``xfail → xfail``) is green again.
  ``pass → unsupported`` is one too (a SavedModel that ``load_model`` read yesterday is no longer read).
- **new pass**: it failed or was n/a and now works.
- **changed failure**: it failed on both runs, but with another verdict or error signature (compared on
  the run's own verdict, so an entry added or removed changes nothing); or it moved between fails and
  n/a the other way than above (``load-error → unsupported``), or between n/a verdicts. One that failed
  both times with another verdict, a failure of another class (``load-error → mismatch`` above all: a
  file that was refused now loads and gives wrong numbers, silently), is a regression too
  (:attr:`Change.class_changed`).
- **changed difference**: it passed on both runs at the ``outputs`` level and its margin (``max |Δ| /
  (atol + rtol·|expected|)``, 1 is the edge of the tolerance) moved by at least ``MARGIN_STEP`` (0.1, a
  tenth of the tolerance), or grew or shrank ``MARGIN_FACTOR``-fold (×10) with the larger at least
  ``MARGIN_FLOOR`` (0.01; below that the outputs agree to float32 rounding, far from the edge).
- **appeared** / **disappeared**: a cell in only one of the runs (an environment, fixture or format added
  or removed). Listed, never counted as regressions.

Check levels: the ``outputs`` level is compared for every cell; the deeper levels (``weights``,
``compile``, ``training``; ``Cell.at_level``) only where the cell worked at ``outputs`` on both runs, since
a cell that stopped loading fails at every level for the one reason its ``outputs`` change already names.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.execute.plan import CONTROL_FORMAT
from harness.report.hints import normalize
from harness.report.results import LEVELS, Cell
from harness.report.results_file import HistoryError, NoPrevious, read_results, run_started, when

WORKS = frozenset({"pass", "xpass"})
NOT_APPLICABLE = frozenset({"unsupported", "skipped"})
MARGIN_STEP = 0.1
MARGIN_FACTOR = 10.0
MARGIN_FLOOR = 0.01
KINDS = ("new-failure", "new-pass", "changed-failure", "changed-difference", "appeared", "disappeared")
# The facts the worker records about its environment, in the order the reports show and compare them.
FACT_ORDER = ("python", "tensorflow", "keras", "keras_flavor", "backend", "numpy", "h5py", "device")


def state(verdict: str) -> str:
    """``works``, ``fails`` or ``n/a`` for a verdict (see the module's rules)."""
    if verdict in WORKS:
        return "works"
    return "n/a" if verdict in NOT_APPLICABLE else "fails"


@dataclass(frozen=True)
class Change:
    """One cell whose outcome differs between the previous run and this one, at one check level.

    ``before``/``after`` are the verdicts (None: the cell is absent from that run), ``was``/``now`` the
    run's own verdict behind an xfail or xpass (else the verdict), ``before_detail``/``after_detail``
    the error signature or reason, or the margin of a pass (``margin 0.023, max |Δ| 2.4e-07``).
    """

    kind: str
    id: str
    producer: str
    consumer: str
    fixture: str
    format: str
    loader: str
    level: str
    before: str | None
    after: str | None
    was: str | None = None
    now: str | None = None
    before_detail: str | None = None
    after_detail: str | None = None
    before_margin: float | None = None
    after_margin: float | None = None

    @property
    def class_changed(self) -> bool:
        """Whether the cell failed on both runs with different verdicts of its own (``was``/``now``:
        ``load-error → mismatch``, ``mismatch → crash``): a regression, not only a changed failure."""
        return (self.kind == "changed-failure" and None not in (self.before, self.after)
                and state(self.before) == state(self.after) == "fails" and self.was != self.now)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class EnvChange:
    """An environment that differs between the runs: ``kind`` is ``changed``, ``added`` or ``removed``;
    ``diffs`` holds (what, before, after): installed versions (the ``facts`` the worker recorded), and
    ``requirements`` when matrix.yaml's packages differ."""

    env: str
    kind: str
    diffs: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def describe(self) -> str:
        """``tf-latest: tensorflow 2.15.1 → 2.16.2, keras 2.15.0 → 3.3.3`` (or ``… added``/``removed``)."""
        if self.kind != "changed":
            return f"{self.env}: {self.kind}"
        return f"{self.env}: " + ", ".join(f"{k} {b or '?'} → {a or '?'}" for k, b, a in self.diffs)


@dataclass
class Comparison:
    """This run against the previous one.

    ``previous`` is the path given; ``note`` says why nothing was compared, else None: no file there (the
    first night), or (``broken``) a file that cannot be read or is no results.json.
    ``previous_started`` and ``current_started`` are the runs' start times (seconds since the epoch, from
    ``run.started``), or None.
    """

    previous: str
    previous_started: float | None = None
    current_started: float | None = None
    changes: list[Change] = field(default_factory=list)
    environments: list[EnvChange] = field(default_factory=list)
    note: str | None = None
    broken: bool = False

    def of(self, kind: str) -> list[Change]:
        """The changes of one kind (``KINDS``), in cell order."""
        return [c for c in self.changes if c.kind == kind]

    @property
    def regressions(self) -> list[Change]:
        """The new failures, at any check level, and the failures of another class
        (:attr:`Change.class_changed`): what ``--fail-on regression`` fails on."""
        return [c for c in self.changes if c.kind == "new-failure" or c.class_changed]

    def counts(self) -> dict[str, int]:
        """Number of changes per kind, every kind named (zeros included)."""
        return {kind: len(self.of(kind)) for kind in KINDS}

    @classmethod
    def from_json(cls, data: dict) -> Comparison:
        """The comparison :meth:`to_json` wrote (a results.json's ``history``).

        Raises:
            KeyError, TypeError, ValueError, AttributeError: ``data`` is not what it writes.
        """
        return cls(data["previous"], data["previous_started"], data["current_started"],
                   [Change(**change) for change in data["changes"]],
                   [EnvChange(e["env"], e["kind"], [tuple(d) for d in e["diffs"]]) for e in data["environments"]],
                   data["note"], bool(data["broken"]))

    def to_json(self) -> dict:
        return {"previous": self.previous, "previous_started": self.previous_started,
                "current_started": self.current_started, "note": self.note, "broken": self.broken,
                "counts": self.counts(),
                "environments": [{"env": e.env, "kind": e.kind, "diffs": [list(d) for d in e.diffs],
                                  "text": e.describe()} for e in self.environments],
                "changes": [c.to_json() for c in self.changes]}


def _cells(results: dict) -> dict[str, Cell]:
    return {c.id: c for c in (Cell.from_record(r) for r in results.get("cells", []))
            if c.format != CONTROL_FORMAT}


def _own(cell: Cell) -> str:
    return cell.original_verdict or cell.verdict


def _detail(cell: Cell, level: str) -> str | None:
    if level != "outputs":  # compared only where the cell loaded: the level's own reason or difference
        found = (cell.levels or {}).get(level) or {}
        return found.get("reason") or (f"max |Δ| {found['max_abs']:.3g}" if found.get("max_abs") is not None
                                       else None)
    if cell.verdict in WORKS:
        return f"margin {cell.margin:.3g}, max |Δ| {cell.max_abs:.3g}" if cell.margin is not None else None
    if cell.error_type:  # the error's class and first line, normalized as the report groups failures
        return normalize(cell.signature)
    return normalize(cell.reason or _own(cell), counts=False)  # reasons keep their version numbers


def _margin_moved(before: float | None, after: float | None) -> bool:
    """Whether a pass's margin moved enough to list (``MARGIN_STEP``, ``MARGIN_FACTOR``, ``MARGIN_FLOOR``)."""
    if before is None or after is None:
        return False
    if abs(after - before) >= MARGIN_STEP:
        return True
    low, high = sorted((before, after))
    return high >= MARGIN_FLOOR and (low == 0 or high / low >= MARGIN_FACTOR)


def _kind(before: str, after: str, same_failure: bool) -> str | None:
    """The change kind between two verdicts at one level, or None when nothing changed."""
    b, a = state(before), state(after)
    if b == "works" and a == "works":
        return None
    if (b == "works" and a != "works") or (b == "n/a" and a == "fails"):
        return "new-failure"
    if a == "works":
        return "new-pass"
    if b == a == "n/a":  # an n/a reason names the versions, so it changes with them: only its verdict counts
        return None if before == after else "changed-failure"
    return None if same_failure else "changed-failure"


def _change(kind: str, level: str, old: Cell | None, new: Cell | None) -> Change:
    cell = new or old
    return Change(kind, cell.id, cell.producer, cell.consumer, cell.fixture, cell.format, cell.loader, level,
                  before=old.at_level(level) if old else None, after=new.at_level(level) if new else None,
                  was=_own(old) if old and level == "outputs" else (old.at_level(level) if old else None),
                  now=_own(new) if new and level == "outputs" else (new.at_level(level) if new else None),
                  before_detail=_detail(old, level) if old else None,
                  after_detail=_detail(new, level) if new else None,
                  before_margin=old.margin if old and level == "outputs" else None,
                  after_margin=new.margin if new and level == "outputs" else None)


def _compare_cell(old: Cell, new: Cell) -> list[Change]:
    out = []
    same = _own(old) == _own(new) and normalize(old.signature) == normalize(new.signature)
    kind = _kind(old.verdict, new.verdict, same)
    if kind:
        return [_change(kind, "outputs", old, new)]
    if state(old.verdict) == "works" == state(new.verdict):
        if _margin_moved(old.margin, new.margin):
            out.append(_change("changed-difference", "outputs", old, new))
        for level in LEVELS[1:]:
            before, after = old.at_level(level), new.at_level(level)
            kind = _kind(before, after, before == after)
            if kind:
                out.append(_change(kind, level, old, new))
    return out


def _env_changes(previous: dict, current: dict) -> list[EnvChange]:
    before, after = previous.get("environments") or {}, current.get("environments") or {}
    out = []
    for env in [*before, *[e for e in after if e not in before]]:
        if env not in after or env not in before:
            out.append(EnvChange(env, "removed" if env not in after else "added"))
            continue
        old, new = before[env] or {}, after[env] or {}
        facts_old, facts_new = old.get("facts") or {}, new.get("facts") or {}
        keys = [k for k in FACT_ORDER if k in facts_old or k in facts_new]
        keys += sorted((set(facts_old) | set(facts_new)) - set(keys))
        diffs = [(k, facts_old.get(k), facts_new.get(k)) for k in keys if facts_old.get(k) != facts_new.get(k)]
        if (old.get("packages") or []) != (new.get("packages") or []):
            diffs.append(("requirements", " ".join(old.get("packages") or []) or None,
                          " ".join(new.get("packages") or []) or None))
        if diffs:
            out.append(EnvChange(env, "changed", diffs))
    return out


def compare(previous: dict, current: dict, previous_path: str = "") -> Comparison:
    """Compare two runs' results (``results.json`` objects; ``current`` may be built in memory the same way).

    Returns every change of the module's rules, in the current run's cell order (then the cells that
    disappeared, in the previous run's order), and every environment that changed.
    """
    old, new = _cells(previous), _cells(current)
    changes = []
    for key, cell in new.items():
        if key not in old:
            changes.append(_change("appeared", "outputs", None, cell))
        else:
            changes += _compare_cell(old[key], cell)
    changes += [_change("disappeared", "outputs", cell, None) for key, cell in old.items() if key not in new]
    return Comparison(previous_path, run_started(previous), run_started(current), changes,
                      _env_changes(previous, current))


def against(path: Path, current: dict) -> Comparison:
    """Compare ``current`` with the results.json at ``path``; never raises.

    Where nothing can be compared the comparison is empty and its ``note`` says why: no file (the first
    night: not ``broken``), or a file that cannot be read or is no results.json of this harness (``broken``).
    A file of the same run (the same ``run.started``: its reports rendered again, ``nox -s report``, with
    the ``--compare`` that names the results.json it wrote) gives the comparison it holds, made when the
    run was first reported, instead of comparing the run with itself; ``broken`` where it holds none.
    """
    started = run_started(current)
    try:
        previous = read_results(path)
    except NoPrevious as exc:
        return Comparison(str(path), current_started=started, note=str(exc))
    except HistoryError as exc:
        return Comparison(str(path), current_started=started, note=str(exc), broken=True)
    if started is not None and run_started(previous) == started:
        try:
            return Comparison.from_json(previous["history"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return Comparison(str(path), started, started, broken=True,
                              note=f"--compare {path}: the results.json of this same run (started {when(started)}), "
                                   "not of an earlier one, and it holds no comparison; give the previous run's")
    return compare(previous, current, str(path))
