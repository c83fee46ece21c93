"""The advisories table (``harness/check/security/advisories.yaml``) and the security verdict of one file per target.

A target is a Keras flavor and version (:class:`Target`). For each code-running finding the verdict
asks, in order: does an advisory of effect ``code`` apply to this target and feature (then it
runs), else what the version table says (:func:`code_rule`), whose facts are:

- Keras before 2.13 has no safe_mode; Keras 2.13 to 2.15 and tf_keras apply it to ``.keras`` only
  (tf_keras still does not for HDF5); Keras 3 applies it to ``.keras``, and to ``.h5`` from 3.11.3
  (keras-team/keras#21602, CVE-2025-9905).
- Keras 3.0 to 3.8 import a module named in a config even with safe_mode on (CVE-2025-1550); 3.9+
  refuse modules outside Keras under safe_mode.
- Assumed, not measured: Keras 2.13+ and tf_keras import the module a ``.keras`` config names and
  call the Keras functions a Lambda names (the checks added by the fixes of CVE-2025-1550 and
  CVE-2025-9906 are in Keras 3 only); TFSMLayer and TorchModuleWrapper do not exist in Keras 2.

Path findings follow paths unless a Keras 3 target is past every affected range of an advisory that
covers them. Verdicts: ``runs code`` > ``follows paths`` > ``blocked by safe_mode`` > ``nothing found``.
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
ORDER = (RUNS, FOLLOWS, BLOCKED, NOTHING)
MODULE_FINDINGS = ("function_reference", "custom_class", "lambda_keras_function", "safe_mode_toggle")
KERAS3_ONLY = ("tfsm_layer", "torch_module_wrapper")


@dataclass(frozen=True)
class Advisory:
    """One row of advisories.yaml; ``affected`` are specifier sets, any one matching."""

    id: str
    summary: str
    package: str
    affected: tuple[SpecifierSet, ...]
    fixed: str | None
    features: tuple[str, ...]
    containers: tuple[str, ...]
    effect: str
    link: str
    sources: str
    aliases: tuple[str, ...] = ()
    unverified: bool = False

    @property
    def ranges(self) -> str:
        """The affected ranges as written in the table (``>=3.0.0,<3.12.1 or ==3.13.0``)."""
        return " or ".join(",".join(str(s) for s in sorted(spec, key=lambda s: not s.operator.startswith(">")))
                           for spec in self.affected)

    def affects(self, package: str, version: Version | None) -> bool:
        return (version is not None and package == self.package
                and any(spec.contains(version, prereleases=True) for spec in self.affected))

    def applies(self, target: Target, scanned: ScannedFile) -> bool:
        """The target's version is affected and the file has a feature the advisory needs."""
        return (self.affects(target.package, target.keras) and scanned.container in self.containers
                and bool(scanned.kinds & set(self.features)))

    def past(self, target: Target) -> bool:
        """The target is newer than every affected range (fixed for it)."""
        if target.package != self.package or target.keras is None or self.affects(target.package, target.keras):
            return False
        return all(not spec.contains(target.keras, prereleases=True) and
                   any(target.keras > Version(s.version) for s in spec if s.operator in ("<", "<=", "=="))
                   for spec in self.affected)

    def to_json(self) -> dict:
        return {"id": self.id, "aliases": list(self.aliases), "summary": self.summary, "package": self.package,
                "affected": self.ranges, "fixed": self.fixed, "effect": self.effect,
                "link": self.link, "unverified": self.unverified}


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
            if row["fixed"] is not None:
                Version(row["fixed"])
        except (InvalidSpecifier, InvalidVersion) as exc:
            raise UserInputError(f"{path}: advisories/{index} ({row['id']}): {exc}") from None
        rows.append(Advisory(row["id"], row["summary"], row["package"], affected, row["fixed"],
                             tuple(row["features"]), tuple(row["containers"]), row["effect"], row["link"],
                             row["sources"], tuple(row.get("aliases", ())), row.get("unverified", False)))
    return rows


def code_rule(kind: str, target: Target, container: str) -> tuple[bool, str]:
    """(runs, why) for one code finding in ``target`` by the version table (advisories aside)."""
    keras = target.keras or Version("0")
    if target.flavor != "keras3":
        label = "tf_keras" if target.flavor == "tf_keras" else f"Keras {keras}"
        if kind == "lambda":
            if target.flavor == "keras2" and keras < Version("2.13"):
                return True, f"{label} has no safe_mode"
            if container == "zip":
                return False, f"{label} applies safe_mode to .keras files"
            return True, f"{label} applies safe_mode to .keras files only"
        if kind in KERAS3_ONLY:
            return False, f"{label} has no such layer: the load fails before anything runs"
        return True, (f"{label} imports the module a config names and calls it (assumed: the checks "
                      "of the CVE-2025-1550 and CVE-2025-9906 fixes are in Keras 3 only)")
    if kind == "lambda" and container == "directory":
        return False, "Keras 3 cannot load_model a Keras SavedModel; TFSMLayer runs no Python from it"
    return False, f"Keras {keras} safe_mode refuses it"


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


def verdict(scanned: ScannedFile, target: Target, advisories: list[Advisory]) -> Verdict:
    """Would loading ``scanned`` in ``target`` run code from it or follow its paths, and which
    advisories apply (see the module docstring for the rules). A polyglot is judged by the container(s)
    the target loads (:func:`loaded_views`), the worst of them where it may load either."""
    views = loaded_views(scanned, target)
    if views == [scanned]:
        return _verdict(scanned, target, advisories)
    judged = [_verdict(view, target, advisories) for view in views]
    worst = min(judged, key=lambda v: ORDER.index(v.verdict))
    loads = " or ".join(v.container for v in views)
    return Verdict(target, worst.verdict, (f"loads the {loads} of this polyglot",) + worst.reasons, worst.advisories)


def _verdict(scanned: ScannedFile, target: Target, advisories: list[Advisory]) -> Verdict:
    applying = tuple(a for a in advisories if a.applies(target, scanned))
    statuses, reasons = set(), []
    for kind in dict.fromkeys(f.kind for f in scanned.findings):
        effect = next(f.effect for f in scanned.findings if f.kind == kind)
        if effect == "code":
            by = [a.id for a in applying if a.effect == "code" and kind in a.features]
            runs, why = (True, f"known advisory {', '.join(by)}") if by else code_rule(kind, target, scanned.container)
            statuses.add(RUNS if runs else BLOCKED)
            reasons.append(f"{kind}: {'runs' if runs else 'does not run'} ({why})")
        elif effect == "path":
            fixed = [a for a in advisories if kind in a.features and a.past(target)]
            if target.flavor == "keras3" and fixed and not any(kind in a.features for a in applying):
                reasons.append(f"{kind}: refused (fixed in Keras {', '.join(a.fixed or '?' for a in fixed)})")
                statuses.add(BLOCKED)
            else:
                reasons.append(f"{kind}: followed by the loader")
                statuses.add(FOLLOWS)
    found = next((v for v in ORDER if v in statuses), NOTHING)
    return Verdict(target, found, tuple(reasons), applying)
