"""The advisories table (``harness/check/security/advisories.yaml``) and the security verdict of one file per target.

A target is a Keras flavor and version (:class:`Target`), a file is loaded with one loader
(``load_model`` by default; ``load_weights`` for a weights file). For each code-running finding the
verdict asks, in order: does an advisory of this container, format and loader apply to this target
and feature (then it runs), else what the version table says (:func:`code_rule`). Every fact of the
table is read in the release code (the tags of keras-team/keras and keras-team/tf-keras):

- Keras 2 before 2.12 has no safe_mode (keras v2.11.0 keras/layers/core/lambda_layer.py); Keras
  2.12 to 2.15 and tf_keras apply it to ``.keras`` only: the Lambda check reads
  ``serialization_lib.in_safe_mode()`` (keras v2.12.0 lambda_layer.py line 391, tf-keras v2.21.0
  line 393), set only by the ``.keras`` branch of ``load_model`` (tf-keras v2.21.0 saving_api.py line
  293; the legacy branch below it passes no safe_mode). Keras 3 applies it to ``.keras``, and to
  ``.h5`` from 3.11.3 (CVE-2025-9905).
- Keras 2 and tf_keras import any module a config names (keras v2.15.0 serialization_lib.py line 800,
  tf-keras v2.21.0 line 798). Keras 3.0 to 3.8 do too (CVE-2025-1550); 3.9+ import only keras,
  keras_hub, keras_cv and keras_nlp, safe_mode or not (keras v3.9.0 serialization_lib.py
  ``_retrieve_class_or_fn``), so a class from the user's own module loads only when registered or
  passed in ``custom_objects``: ``needs custom_objects``, not a refusal.
- A function named as an activation, initializer, regularizer or constraint (``function_by_table``) is
  looked up by name in Keras's own table in Keras 3.0 to 3.9, its module never imported (keras v3.8.0
  serialization_lib.py lines 526-573; shown by a load at 3.8.0: "Could not interpret activation function
  identifier", no marker); from 3.10.0 an activation goes through ``_retrieve_class_or_fn``, which
  imports no module outside Keras since 3.9.0. Keras 2 and tf_keras are not read for it and count it as
  imported.
- TFSMLayer and TorchModuleWrapper do not exist in Keras 2.

Path findings are followed unless the target carries the fix of an advisory that covers them for
this container, format and loader (its ``fixed`` version of the target's line). Verdicts:
``runs code`` > ``follows paths`` > ``blocked by safe_mode`` > ``needs custom_objects`` > ``nothing found``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.check.modelfile import UserInputError
from harness.guard import read_text
from harness.check.security.model import ScannedFile

ADVISORIES = Path(__file__).with_name("advisories.yaml")
SCHEMA = Path(__file__).with_name("advisories.schema.json")
RUNS, FOLLOWS, BLOCKED, NOTHING = "runs code", "follows paths", "blocked by safe_mode", "nothing found"
NEEDS = "needs custom_objects"
ORDER = (RUNS, FOLLOWS, BLOCKED, NEEDS, NOTHING)
LOADERS = ("load_model", "load_weights", "from_config", "KerasFileEditor", "get_file")
MODULE_FINDINGS = ("function_reference", "function_by_table", "custom_class", "lambda_keras_function",
                   "safe_mode_toggle")
KERAS3_ONLY = ("tfsm_layer", "torch_module_wrapper")


@dataclass(frozen=True)
class Advisory:
    """One row of advisories.yaml; ``affected`` are specifier sets, any one matching."""

    id: str
    summary: str
    package: str
    affected: tuple[SpecifierSet, ...]
    fixed: tuple[str, ...]
    features: tuple[str, ...]
    containers: tuple[str, ...]
    effect: str
    link: str
    sources: str
    aliases: tuple[str, ...] = ()
    loaders: tuple[str, ...] = ("load_model",)
    formats: tuple[str, ...] = ()
    fix: tuple[str, ...] = ()
    record: dict | None = None

    @property
    def ranges(self) -> str:
        """The affected ranges as written in the table (``>=3.0.0,<3.12.1 or ==3.13.0``)."""
        return " or ".join(",".join(str(s) for s in sorted(spec, key=lambda s: not s.operator.startswith(">")))
                           for spec in self.affected)

    def affects(self, package: str, version: Version | None) -> bool:
        return (version is not None and package == self.package
                and any(spec.contains(version, prereleases=True) for spec in self.affected))

    @property
    def fixed_text(self) -> str:
        return " / ".join(self.fixed) or "no fix"

    def reaches(self, scanned: ScannedFile, loader: str) -> bool:
        """The file's container and format, and the loader, are ones the advisory goes through."""
        return (scanned.container in self.containers and loader in self.loaders
                and (not self.formats or scanned.format in self.formats))

    def applies(self, target: Target, scanned: ScannedFile, loader: str = "load_model") -> bool:
        """The target's version is affected, the file reaches it with ``loader``, and it has a feature the
        advisory needs."""
        return (self.affects(target.package, target.keras) and self.reaches(scanned, loader)
                and bool(scanned.kinds & set(self.features)))

    def fixed_in(self, target: Target) -> str | None:
        """The fixed release of the target's line that the target carries (the newest fixed version at or
        below it), or None where it is affected, another package, or older than every fix."""
        if target.package != self.package or target.keras is None or self.affects(target.package, target.keras):
            return None
        carried = [v for v in self.fixed if Version(v) <= target.keras]
        return max(carried, key=Version) if carried else None

    def past(self, target: Target) -> bool:
        """The target carries a fix of the advisory (see :meth:`fixed_in`)."""
        return self.fixed_in(target) is not None

    def to_json(self) -> dict:
        return {"id": self.id, "aliases": list(self.aliases), "summary": self.summary, "package": self.package,
                "affected": self.ranges, "fixed": list(self.fixed), "loaders": list(self.loaders),
                "effect": self.effect, "link": self.link, "fix": list(self.fix), "record": self.record}


@dataclass(frozen=True)
class Target:
    """A Keras to load the file in. ``flavor``: ``keras2`` (Keras 2, in TF or the keras package),
    ``tf_keras`` or ``keras3``; ``keras``: its version (for tf_keras, the tf-keras version)."""

    name: str
    flavor: str
    keras: Version | None
    tensorflow: Version | None = None

    @property
    def package(self) -> str:
        return "tf-keras" if self.flavor == "tf_keras" else "keras"


def load_advisories(path: Path = ADVISORIES) -> list[Advisory]:
    """Read and validate the advisories table.

    Raises:
        UserInputError: not YAML (a key given twice included), not matching advisories.schema.json (the key
            path is named), or an ``affected`` entry that is no PEP 440 specifier set.
    """
    from harness.config.matrix_yaml import load_yaml
    try:  # matrix.yaml's loader: a key given twice is an error, aliases are bounded
        data = load_yaml(read_text(Path(path), "advisories table", 16 * 2**20))
    except (OSError, ValueError, RecursionError, yaml.YAMLError) as exc:
        raise UserInputError(f"{path}: cannot be read as YAML ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise UserInputError(f"{path}: {where}: {error.message}")
    rows = []
    for index, row in enumerate(data["advisories"]):
        try:
            affected = tuple(SpecifierSet(text) for text in row["affected"])
            for version in row["fixed"]:
                Version(version)
        except (InvalidSpecifier, InvalidVersion) as exc:
            raise UserInputError(f"{path}: advisories/{index} ({row['id']}): {exc}") from None
        stray = [v for v in row["fixed"] if any(spec.contains(Version(v), prereleases=True) for spec in affected)]
        if stray:
            raise UserInputError(f"{path}: advisories/{index} ({row['id']}): fixed {', '.join(stray)} is inside "
                                 f"its affected ranges")
        rows.append(Advisory(row["id"], row["summary"], row["package"], affected, tuple(row["fixed"]),
                             tuple(row["features"]), tuple(row["containers"]), row["effect"], row["link"],
                             row["sources"], tuple(row.get("aliases", ())), tuple(row["loaders"]),
                             tuple(row.get("formats", ())), tuple(row["fix"]), row.get("record")))
    return rows


def default_loader(scanned: ScannedFile) -> str:
    """The loader a user calls on this file: ``load_weights`` for a weights file, else ``load_model``."""
    return "load_weights" if scanned.format in ("h5_weights", "keras_weights") else "load_model"


def code_rule(kind: str, target: Target, container: str) -> tuple[str, str]:
    """(status, why) for one code finding in ``target`` by the version table (advisories aside); the
    status is :data:`RUNS`, :data:`BLOCKED` or :data:`NEEDS`."""
    keras = target.keras or Version("0")
    if target.flavor != "keras3":
        label = "tf_keras" if target.flavor == "tf_keras" else f"Keras {keras}"
        if kind == "lambda":
            if target.flavor == "keras2" and keras < Version("2.12"):
                return RUNS, f"{label} has no safe_mode"
            if container == "zip":
                return BLOCKED, f"{label} applies safe_mode to .keras files"
            return RUNS, f"{label} applies safe_mode to .keras files only"
        if kind in KERAS3_ONLY:
            return BLOCKED, f"{label} has no such layer: the load fails before anything runs"
        if kind == "npz_object_array":
            return BLOCKED, f"{label} reads .npz weights with allow_pickle=False"
        if kind == "function_by_table":
            return RUNS, (f"{label}: a function looked up by name is not read in its code; counted as "
                          "imported, as any module a config names")
        return RUNS, (f"{label} imports any module a config names (serialization_lib "
                      "_retrieve_class_or_fn: importlib.import_module(module))")
    if kind == "lambda" and container == "directory":
        return BLOCKED, "Keras 3 cannot load_model a Keras SavedModel; TFSMLayer runs no Python from it"
    if kind == "custom_class":
        return NEEDS, (f"Keras {keras} imports no module outside Keras: a registered class loads with "
                       "custom_objects, or once its module registers it")
    if kind == "function_reference":
        return BLOCKED, f"Keras {keras} imports no module outside Keras, safe_mode or not"
    if kind == "function_by_table" and keras < Version("3.9"):
        return BLOCKED, (f"Keras {keras} looks the name up in its own table, serialization_lib's "
                         "module_objects, and imports nothing; the load fails")
    if kind == "function_by_table":
        return BLOCKED, f"Keras {keras} imports no module outside Keras, safe_mode or not"
    if kind == "npz_object_array":
        return BLOCKED, f"Keras {keras} reads .npz weights with allow_pickle=False"
    return BLOCKED, f"Keras {keras} safe_mode refuses it"


@dataclass(frozen=True)
class Verdict:
    """The security verdict of one file in one target: ``verdict`` one of :data:`ORDER`,
    ``reasons`` one line per finding kind, ``advisories`` those that apply."""

    target: Target
    verdict: str
    reasons: tuple[str, ...]
    advisories: tuple[Advisory, ...]

    def to_json(self) -> dict:
        return {"target": self.target.name, "flavor": self.target.flavor,
                "keras": str(self.target.keras) if self.target.keras else None,
                "verdict": self.verdict, "reasons": list(self.reasons),
                "advisories": [a.to_json() for a in self.advisories]}


WORDS = {RUNS: "runs", BLOCKED: "does not run", NEEDS: "needs custom_objects"}


def loaded_views(scanned: ScannedFile, target: Target) -> list[ScannedFile]:
    """The containers of ``scanned`` that ``target`` may load (each its own scan): the file itself, or of a
    polyglot (``ScannedFile.views``) what the target's ``load_model`` picks: a ``.keras`` name that is a
    zip is the zip to Keras 3 and Keras 2.13+ and tf_keras, the HDF5 to Keras 2 before 2.12, either to
    2.12 (not measured: both are judged); else HDF5 (Keras 2 asks ``h5py.is_hdf5``, Keras 3 loads
    ``.h5``/``.hdf5`` as HDF5); for Keras 3 under another name, both."""
    views = scanned.views
    if not views:
        return [scanned]
    name, keras = str(scanned.path), target.keras
    if name.endswith(".keras") and "zip" in views:
        if target.flavor == "keras2" and keras is not None and keras < Version("2.12"):
            return [views.get("hdf5", views["zip"])]
        if target.flavor == "keras2" and (keras is None or keras < Version("2.13")):
            return list(views.values())
        return [views["zip"]]
    if "hdf5" in views and (target.flavor != "keras3" or name.endswith((".h5", ".hdf5"))):
        return [views["hdf5"]]
    return list(views.values())


def verdict(scanned: ScannedFile, target: Target, advisories: list[Advisory], loader: str | None = None) -> Verdict:
    """Would loading ``scanned`` in ``target`` with ``loader`` (default :func:`default_loader`) run code
    from it or follow its paths, and which advisories apply (see the module docstring for the rules). A
    polyglot is judged by the container(s) the target loads (:func:`loaded_views`), the worst of them where
    it may load either."""
    views = loaded_views(scanned, target)
    if views == [scanned]:
        return _verdict(scanned, target, advisories, loader)
    judged = [_verdict(view, target, advisories, loader) for view in views]
    worst = min(judged, key=lambda v: ORDER.index(v.verdict))
    loads = " or ".join(v.container for v in views)
    return Verdict(target, worst.verdict, (f"loads the {loads} of this polyglot",) + worst.reasons, worst.advisories)


def _verdict(scanned: ScannedFile, target: Target, advisories: list[Advisory], loader: str | None = None) -> Verdict:
    loader = loader or default_loader(scanned)
    applying = tuple(a for a in advisories if a.applies(target, scanned, loader))
    statuses, reasons = set(), []
    for kind in dict.fromkeys(f.kind for f in scanned.findings):
        effect = next(f.effect for f in scanned.findings if f.kind == kind)
        by = [a for a in applying if kind in a.features]
        if effect == "code" and any(a.effect == "path" for a in by):
            statuses.add(FOLLOWS)
            reasons.append(f"{kind}: writes or reads paths (known advisory {', '.join(a.id for a in by)})")
        elif effect == "code":
            status, why = (RUNS, f"known advisory {', '.join(a.id for a in by)}") if by else \
                code_rule(kind, target, scanned.container)
            statuses.add(status)
            reasons.append(f"{kind}: {WORDS[status]} ({why})")
        elif effect == "path":
            fixed = [(a, a.fixed_in(target)) for a in advisories if kind in a.features and a.reaches(scanned, loader)]
            fixed = [(a, v) for a, v in fixed if v is not None]
            if target.flavor == "keras3" and fixed and not by:
                reasons.append(f"{kind}: refused ({'; '.join(f'{a.id} fixed in Keras {v}' for a, v in fixed)})")
                statuses.add(BLOCKED)
            else:
                reasons.append(f"{kind}: followed by {loader}"
                               + (f" (known advisory {', '.join(a.id for a in by)})" if by else ""))
                statuses.add(FOLLOWS)
    found = next((v for v in ORDER if v in statuses), NOTHING)
    return Verdict(target, found, tuple(reasons), applying)
