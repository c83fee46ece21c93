"""Plan a run: which environments, fixtures, formats and loaders, and which cells.

A *cell* is (producer, consumer, fixture, format, loader). The orchestrator
never imports a fixture (that would need TensorFlow): it reads each fixture
file's module-level constants (``TAGS``, ``TOLERANCE``, ``MIN_KERAS``,
``MAX_KERAS``, ``BACKENDS``, ``CELL_TIMEOUT_S``) with :mod:`ast`.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.config.spec import MatrixSpec, SpecError
from harness.config.tolerance import Tolerance
from harness.guard import NotRegular, NotText, TooLarge, quote, read_text, within
# Which loaders read which format (each loader is its own column in the report); the negative
# control's pseudo format and loader.
from harness.worker.catalog import CONTROL_FORMAT, CONTROL_LOADER, LOADERS, format_name

METADATA_KEYS = ("TAGS", "TOLERANCE", "MIN_KERAS", "MAX_KERAS", "BACKENDS", "CELL_TIMEOUT_S")
# The most seconds a fixture's CELL_TIMEOUT_S may give one cell: a hung load still costs only its cell.
MAX_CELL_TIMEOUT_S = 3600
BACKEND_NAMES = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class Fixture:
    """A fixture file's name, path and declared metadata (read without importing it). ``cell_timeout_s``:
    the seconds one cell of this fixture may run (its ``CELL_TIMEOUT_S``), where it needs more than
    matrix.yaml's ``timeouts: cell_s`` (None: that one)."""

    name: str
    path: Path
    description: str = ""
    tags: tuple[str, ...] = ()
    tolerance: dict = field(default_factory=dict)
    cell_timeout_s: float | None = None


def read_fixture(path: Path) -> Fixture:
    """Read a fixture file's docstring and metadata constants with :mod:`ast`.

    Raises:
        SpecError: the file does not parse, or a constant is not a literal.
    """
    try:
        tree = ast.parse(read_text(path, "fixture"), filename=str(path))
    except SyntaxError as exc:
        raise SpecError(f"{path}:{exc.lineno}: fixture does not parse: {exc.msg}") from None
    except NotText as exc:
        raise SpecError(f"{path}: fixture is not UTF-8 text ({exc.detail})") from None
    except (NotRegular, TooLarge) as exc:
        raise SpecError(str(exc)) from None
    meta = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            key = node.targets[0].id
            if key in METADATA_KEYS:
                try:
                    meta[key] = ast.literal_eval(node.value)
                except ValueError:
                    raise SpecError(f"{path}:{node.lineno}: {key} must be a literal") from None
                problem = _metadata_problem(key, meta[key])
                if problem:
                    raise SpecError(f"{path}:{node.lineno}: {key} {problem}")
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    missing = {"build", "sample_inputs"} - functions
    if missing:
        raise SpecError(f"{path}: fixture must define {' and '.join(sorted(missing))}()")
    return Fixture(name=path.stem, path=path.resolve(), description=(ast.get_docstring(tree) or "").strip(),
                   tags=tuple(meta.get("TAGS", ())), tolerance=dict(meta.get("TOLERANCE", {})),
                   cell_timeout_s=meta.get("CELL_TIMEOUT_S"))


def _metadata_problem(key: str, value) -> str | None:
    """What is wrong with a fixture's metadata constant, or None (the worker relies on these shapes)."""
    if key == "TAGS":
        ok = isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value)
        return None if ok else f"must be a list of strings, like [\"core\"], not {value!r}"
    if key == "BACKENDS":
        ok = isinstance(value, (list, tuple)) and value and all(b in BACKEND_NAMES for b in value)
        return None if ok else f"must be a list of Keras backends ({', '.join(BACKEND_NAMES)}), not {value!r}"
    if key == "CELL_TIMEOUT_S":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= MAX_CELL_TIMEOUT_S
        return None if ok else f"must be seconds, a number above 0 and at most {MAX_CELL_TIMEOUT_S}, not {value!r}"
    if key == "TOLERANCE":
        if not isinstance(value, dict) or not value or set(value) - {"atol", "rtol"}:
            return f"must be a dict with atol and/or rtol, like {{\"atol\": 1e-5}}, not {value!r}"
        bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, (int, float))
               or not 0 <= v < float("inf")]
        return f"{bad[0]} must be a finite number >= 0, not {value[bad[0]]!r}" if bad else None
    try:  # MIN_KERAS, MAX_KERAS
        Version(value)
        return None if isinstance(value, str) else f"must be a version string like \"2.13\", not {value!r}"
    except (InvalidVersion, TypeError):
        return f"must be a version string like \"2.13\", not {value!r}"


def discover_fixtures(directory: Path) -> dict[str, Fixture]:
    """Every ``*.py`` fixture directly in ``directory`` (files starting with ``_`` are helpers)."""
    return {p.stem: read_fixture(p) for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")}


@dataclass(frozen=True)
class Selection:
    """What one run covers: the environments, fixtures and formats, in report order,
    and the spec they were selected from. ``envs`` are every environment that runs a phase;
    ``producing`` and ``consuming`` (``--from``, ``--to``) narrow which of them save and which load
    (None: all of them). ``formats`` given under an old name (a run.json of before the renaming:
    ``harness.worker.catalog.format_name``) are kept under the name they have now."""

    profile: str
    envs: tuple[str, ...]
    fixtures: dict[str, Fixture]
    formats: tuple[str, ...]
    spec: MatrixSpec
    goldens: dict = field(default_factory=dict)  # label -> harness.execute.golden.Golden
    producing: tuple[str, ...] | None = None
    consuming: tuple[str, ...] | None = None
    # The loaders the run planned (run.json's ``loaders``): None, every loader of the catalog. A run recorded
    # before a loader joined the catalog has no cells of it (``harness.report.model.build``).
    loaders: tuple[str, ...] | None = None

    def loaders_of(self, fmt: str) -> tuple[str, ...]:
        """The loaders this run reads ``fmt`` with, in the catalog's order."""
        return tuple(name for name in LOADERS[fmt] if self.loaders is None or name in self.loaders)

    @property
    def columns(self) -> list[tuple[str, str]]:
        """The (format, loader) pairs of this run, in report order (the negative control not included)."""
        return [(fmt, loader) for fmt in self.formats for loader in self.loaders_of(fmt)]

    def __post_init__(self):
        object.__setattr__(self, "formats", tuple(dict.fromkeys(format_name(f) for f in self.formats)))

    @property
    def producer_envs(self) -> tuple[str, ...]:
        """The selected environments that save (run a produce phase)."""
        return self.envs if self.producing is None else self.producing

    @property
    def producers(self) -> tuple[str, ...]:
        """The rows of the matrix: the selected environments that save, then the golden artifacts."""
        return self.producer_envs + tuple(self.goldens)

    @property
    def consumers(self) -> tuple[str, ...]:
        """The columns of the matrix: the selected environments that load (run a consume phase)."""
        return self.envs if self.consuming is None else self.consuming

    def runs(self, phase: str, env: str) -> bool:
        """Whether ``env`` runs ``phase`` (``produce`` or ``consume``) in this selection."""
        return env in (self.producer_envs if phase == "produce" else self.consumers)

    def device_of(self, producer: str) -> str:
        golden = self.goldens.get(producer)
        return golden.device if golden else self.spec.envs[producer].device

    def tolerance_for(self, fixture: str, fmt: str, producer: str, consumer: str) -> Tolerance:
        """The tolerance of one cell, by ``harness.config.tolerance.ToleranceRules``' precedence.

        Overrides match the consumer's backend and the environments' device pair
        (``"cpu>cpu"``), as declared in matrix.yaml.
        """
        envs = self.spec.envs
        return self.spec.tolerance.resolve(
            fixture, fmt, backend=envs[consumer].backend or "tensorflow",
            device_pair=f"{self.device_of(producer)}>{envs[consumer].device}",
            fixture_tolerance=self.fixtures[fixture].tolerance)

    def control_tolerance(self, fixture: str, producer: str, consumer: str) -> Tolerance:
        """The negative control's tolerance: the loosest atol and rtol of any selected format, so
        fresh weights must mismatch even where the comparison is most lenient."""
        tolerances = [self.tolerance_for(fixture, fmt, producer, consumer) for fmt in self.formats]
        return Tolerance(atol=max(t.atol for t in tolerances), rtol=max(t.rtol for t in tolerances))

    @property
    def fixture_tags(self) -> dict[str, tuple[str, ...]]:
        """Each selected fixture's ``TAGS``, by fixture name (what ``expected_failures`` ``tags:`` match)."""
        return {name: fixture.tags for name, fixture in self.fixtures.items()}

    def to_json(self) -> dict:
        """The selection as run.json records it (``from``/``to`` only where ``--from``/``--to`` narrowed it)."""
        out = {"profile": self.profile, "envs": list(self.envs), "fixtures": sorted(self.fixtures),
               "formats": list(self.formats), "goldens": list(self.goldens),
               "loaders": sorted({loader for _, loader in self.columns})}
        if self.producing is not None:
            out["from"] = list(self.producing) + list(self.goldens)
        if self.consuming is not None:
            out["to"] = list(self.consuming)
        return out


def select(spec: MatrixSpec, fixtures_dir: Path, profile: str = "default",
           envs: list[str] | None = None, fixtures: list[str] | None = None,
           goldens: dict | None = None, formats: list[str] | None = None,
           producers: list[str] | None = None, consumers: list[str] | None = None) -> Selection:
    """Narrow the spec to a profile, and optionally to some environments, fixtures and formats, and to
    some producers (``--from``: environments or golden labels) and consumers (``--to``).

    ``goldens`` (label -> ``harness.execute.golden.Golden``) join the selection as producers (with
    ``producers``, those it names). The environments that run a phase are those of ``envs`` (or the
    profile's) that produce or consume, and the ones ``producers``/``consumers`` name besides.

    Raises:
        SpecError: unknown profile, environment, fixture, format, producer or consumer (the message names
            the option, the bad value and the valid ones).
    """
    given = {"--profile": [profile], "--envs": envs, "--fixtures": fixtures, "--formats": formats,
             "--from": producers, "--to": consumers}
    for option, values in given.items():
        bad = next((v for v in values or [] if not isinstance(v, str) or not v.isprintable()), None)
        if bad is not None:  # a newline or a control character would split or colour the one line below
            raise SpecError(f"{option} {quote(bad)}: not a name (it holds a control character); refused")
    if profile not in spec.profiles:
        raise SpecError(f"--profile {profile}: no such profile (defined: {', '.join(sorted(spec.profiles))})")
    chosen = spec.profiles[profile]
    names = list(chosen.envs)
    goldens = dict(goldens or {})
    if envs:
        _known("--envs", "environment", envs, sorted(spec.envs))
        names = list(envs)
    if consumers:
        _known("--to", "consumer", consumers, sorted(spec.envs))
    if producers:
        _known("--from", "producer", producers, sorted(spec.envs) + sorted(goldens))
        goldens = {label: golden for label, golden in goldens.items() if label in producers}
    offered = chosen.formats or spec.formats
    if formats:  # an old name (weights_h5) is the format it names now
        formats = [format_name(f) for f in formats]
        _known("--formats", "format", formats, spec.formats)
    available = discover_fixtures(fixtures_dir)
    if not available:  # a mistyped fixtures_dir would plan no cell at all, and such a run passes
        raise SpecError(f"{spec.path}: fixtures_dir: no fixture files (*.py) in {fixtures_dir}"
                        f"{'' if fixtures_dir.is_dir() else ' (no such folder)'}")
    wanted = fixtures or chosen.fixtures or spec.fixtures
    # Where a wrong fixture name was given: the command line, the profile, or the file's fixtures.
    label = "--fixtures" if fixtures else (f"{spec.path}: profiles.{profile}.fixtures" if chosen.fixtures
                                            else f"{spec.path}: fixtures")
    for where, named in _fixture_references(spec, wanted, label):
        unknown = [f for f in named or () if f not in available]
        if unknown:
            raise SpecError(f"{where}: no fixture {', '.join(unknown)} in {fixtures_dir} "
                            f"(found: {', '.join(available)})")
    _check_tags(spec, available, fixtures_dir)
    if wanted != "all":
        available = {name: available[name] for name in wanted}
    # A name given twice (--envs tf2.15 tf2.15, formats: [h5, h5]) would plan every cell twice.
    producing = tuple(dict.fromkeys(p for p in producers if p in spec.envs)) if producers else None
    consuming = tuple(dict.fromkeys(consumers)) if consumers else None
    if producing is None and consuming is None:
        running = names
    else:  # the side not named is the profile's (or --envs') environments; both named: exactly those
        producing = tuple(dict.fromkeys(names)) if producing is None and not producers else producing
        consuming = tuple(dict.fromkeys(names)) if consuming is None else consuming
        named = set(producing) | set(consuming)
        running = [e for e in names if e in named] + list(producing) + list(consuming)
    return Selection(profile=profile, envs=tuple(dict.fromkeys(running)), fixtures=available,
                     formats=tuple(dict.fromkeys(formats or offered)), spec=spec, goldens=goldens,
                     producing=producing, consuming=consuming)


def _known(option: str, what: str, given: list[str], valid) -> None:
    """Raise SpecError naming ``option``, the values of ``given`` not in ``valid``, and the valid ones."""
    unknown = [name for name in given if name not in valid]
    if unknown:
        raise SpecError(f"{option}: no {what} named {', '.join(unknown)} (defined: {', '.join(valid)})")


def _fixture_references(spec: MatrixSpec, wanted,
                        label: str = "fixtures") -> list[tuple[str, tuple[str, ...] | None]]:
    """(key path, fixture names) of every place that names fixtures: the selection (``label``
    says where it came from), tolerance overrides and expected failures (a misspelt name would
    silently match nothing)."""
    refs = [] if wanted == "all" else [(label, tuple(wanted))]
    refs += [(f"{spec.path}: tolerance.overrides[{i}].fixture", o.fixtures)
             for i, o in enumerate(spec.tolerance.overrides)]
    refs += [(f"{spec.path}: {e.key_path}.fixture", e.fixtures) for e in spec.expected_failures]
    return refs


def _check_tags(spec: MatrixSpec, available: dict[str, Fixture], fixtures_dir: Path) -> None:
    """Every tag an ``expected_failures`` entry names is in some fixture file's ``TAGS`` (a misspelt tag
    would silently match nothing), and an entry that names fixtures as well names one that carries all of
    its tags. Raises SpecError naming the entry's key path."""
    carried = sorted({tag for fixture in available.values() for tag in fixture.tags})
    for entry in spec.expected_failures:
        unknown = [tag for tag in entry.tags or () if tag not in carried]
        if unknown:
            raise SpecError(f"{spec.path}: {entry.key_path}.tags: no fixture in {fixtures_dir} carries the tag "
                            f"{', '.join(map(quote, unknown))} (carried: {', '.join(carried)})")
        if entry.tags and entry.fixtures and not any(set(entry.tags) <= set(available[name].tags)
                                                     for name in entry.fixtures):
            raise SpecError(f"{spec.path}: {entry.key_path}: none of its fixtures ({', '.join(entry.fixtures)}) "
                            f"carries every one of its tags ({', '.join(entry.tags)}), so it matches no cell")


def cell_id(producer: str, consumer: str | None, fixture: str, fmt: str, loader: str | None) -> str:
    """A stable, readable key: ``producer>consumer/fixture/format/loader``."""
    if consumer is None:
        return f"{producer}/{fixture}/{fmt}"
    return f"{producer}>{consumer}/{fixture}/{fmt}/{loader}"


# A producer saves one trained model in every format, so a save that changes the model changes
# the formats saved after it. Seen on 2026-11-29: Keras 3.15's legacy HDF5 save drops the optimizer
# from the model's compile config, so a .keras saved afterwards reloads with compile=True as RMSprop
# at iteration 0. HDF5 is therefore saved last.
SAVED_LAST = ("h5",)


def _timeout(selection: Selection, fixture: str) -> dict:
    """``{"timeout_s": seconds}`` where the fixture declares its own cell timeout (the supervisor reads it), else {}."""
    seconds = selection.fixtures[fixture].cell_timeout_s
    return {"timeout_s": float(seconds)} if seconds else {}


def produce_cells(selection: Selection, env: str) -> list[dict]:
    """One cell per (fixture, format) for the producer ``env``, ``SAVED_LAST`` formats last; a cell of a
    fixture with its own ``CELL_TIMEOUT_S`` carries it as ``timeout_s``."""
    formats = sorted(selection.formats, key=lambda fmt: fmt in SAVED_LAST)
    return [{"id": cell_id(env, None, f, fmt, None), "fixture": f, "format": fmt, **_timeout(selection, f)}
            for f in selection.fixtures for fmt in formats]


def consume_cells(selection: Selection, consumer: str, produced: list[dict], artifacts: Path) -> list[dict]:
    """The cells a consumer runs: every loader of every saved artifact, plus one
    negative control per (producer, fixture) that saved anything (``timeout_s`` as in :func:`produce_cells`).

    Args:
        produced: produce result records (``verdict == "saved"`` ones are used),
            the golden producers' included.
        artifacts: the run's artifact folder (``<workdir>/artifacts``); each cell
            names its artifact's folder (``directory``), a golden's or this run's.
    """
    cells, controls = [], set()
    for rec in produced:
        if not all(isinstance(rec.get(key), str) for key in ("producer", "fixture", "format")):
            continue  # a damaged record: its names become a folder's path
        if rec.get("verdict") != "saved" or rec["format"] not in selection.formats:
            continue
        if rec["fixture"] not in selection.fixtures or rec["producer"] not in selection.producers:
            continue
        tol = selection.tolerance_for(rec["fixture"], rec["format"], rec["producer"], consumer)
        golden = selection.goldens.get(rec["producer"])
        directory = golden.artifact_dir(rec["fixture"], rec["format"]) if golden else \
            within(artifacts, rec["producer"], rec["fixture"], rec["format"])
        base = {"producer": rec["producer"], "fixture": rec["fixture"], "format": rec["format"],
                "artifact": rec["format"], "directory": str(directory), "atol": tol.atol, "rtol": tol.rtol,
                **_timeout(selection, rec["fixture"])}
        for loader in selection.loaders_of(rec["format"]):
            cells.append(dict(base, loader=loader,
                              id=cell_id(rec["producer"], consumer, rec["fixture"], rec["format"], loader)))
        key = (rec["producer"], rec["fixture"])
        if key not in controls:
            controls.add(key)
            # The control predicts on this artifact's reference inputs.
            loosest = selection.control_tolerance(rec["fixture"], rec["producer"], consumer)
            cells.append(dict(base, format=CONTROL_FORMAT, loader=CONTROL_LOADER, atol=loosest.atol,
                              rtol=loosest.rtol,
                              id=cell_id(rec["producer"], consumer, rec["fixture"], CONTROL_FORMAT, CONTROL_LOADER)))
    return cells

