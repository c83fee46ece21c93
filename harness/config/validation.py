"""The checks of ``matrix.yaml`` beyond its JSON Schema: :func:`check_semantics` of the whole file
(:func:`harness.config.spec.load` calls it), and those it shares with
:mod:`harness.config.env_templates` (the environments a template is locked to): requirements, the
packages that decide a verdict, and one environment's mapping.
"""
from __future__ import annotations

import datetime
import math
import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness.config import expectation_keys, spec_bounds
from harness.errors import HarnessError

SCHEMA_PATH = Path(__file__).with_name("matrix.schema.json")
# What a tolerance override may match cells by (keys of matrix.yaml).
OVERRIDE_CRITERIA = ("fixture", "format", "backend", "device_pair")
TENSORFLOW_NAMES = frozenset({"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel"})
# Packages whose version decides a verdict: each must be pinned with "==".
DECISIVE = TENSORFLOW_NAMES | {"keras", "tf-keras", "jax", "jaxlib", "torch"}


class SpecError(HarnessError, ValueError):
    """``matrix.yaml`` is invalid; the message names the file, the key path and the fix."""


def pinned_version(req: Requirement) -> str | None:
    """The version of an exact ``==`` pin (no wildcard), else None."""
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        try:  # "===" takes any string ("===2.15.1foo"), which is no version to compare
            Version(specs[0].version)
        except InvalidVersion:
            return None
        return specs[0].version
    return None


def parse_requirement(where: str, text: str) -> Requirement:
    """``text`` parsed as a PEP 508 requirement; ``where`` is its key path in matrix.yaml.

    Raises:
        SpecError: not a valid requirement (packaging's first line, and a hint for ``name=X``).
    """
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        # packaging's message draws a caret under the text on further lines: keep its first line.
        why = str(exc).splitlines()[0] if str(exc) else "unparsable"
        single_equals = re.search(r"(?<![=<>!~])=(?!=)", text)  # "tensorflow-cpu=2.15"
        hint = "; pin with '==' (name==X.Y.Z)" if single_equals else ""
        raise SpecError(f"{where}: {text!r} is not a valid requirement ({why}){hint}") from None


def check_env(where: str, env: dict) -> None:
    """Check one environment's mapping beyond the schema (pins, Keras, runner, backend); raises
    SpecError naming ``where``, its key path (``envs.NAME``, or a template's for a locked one)."""
    names = {}
    for i, text in enumerate(env.get("packages", [])):
        at = f"{where}.packages[{i}]"
        req = parse_requirement(at, text)
        cname = canonicalize_name(req.name)
        # A package pinned twice, or two TensorFlow distributions, cannot both be installed, and
        # versions() would silently pick one of them to match expected_failures with.
        clash = cname if cname in names else \
            next((n for n in names if cname in TENSORFLOW_NAMES and n in TENSORFLOW_NAMES), None)
        if clash:
            first = next(j for j, t in enumerate(env["packages"])
                         if canonicalize_name(Requirement(t).name) == clash)
            what = f"pins {req.name} again" if clash == cname else "is a second TensorFlow distribution"
            raise SpecError(f"{at}: {text!r} {what} (packages[{first}] is {env['packages'][first]!r}); "
                            "keep one")
        names[cname] = req
        if cname in DECISIVE and req.marker is not None:
            raise SpecError(f"{at}: {text!r}: {req.name} decides the verdicts, so it may not depend on an "
                            "environment marker (where the marker is false it is not installed at all); "
                            "remove the marker")
        if cname in DECISIVE and pinned_version(req) is None:
            raise SpecError(f"{at}: {text!r} must pin an exact version with '==' "
                            f"(e.g. {req.name}==X.Y.Z): {req.name} decides the verdicts")
    spec_bounds.check_env_variables(where, env.get("env", {}), SpecError)
    if env.get("runner") != "python":  # an existing interpreter's packages are read from it, not written here
        _check_keras_pins(where, env, names)
    _check_runner(where, env, names)
    _check_backend(where, env, names)


def _check_keras_pins(where: str, env: dict, names: dict) -> None:
    tf = next((names[n] for n in TENSORFLOW_NAMES if n in names), None)
    legacy = env.get("env", {}).get("TF_USE_LEGACY_KERAS", "") in ("1", "true", "True")
    if "tf-keras" in names and not legacy:
        raise SpecError(f"{where}.env: tf-keras is pinned but TF_USE_LEGACY_KERAS is not \"1\", "
                        "so tf.keras would still be Keras 3; add env: {TF_USE_LEGACY_KERAS: \"1\"}")
    if legacy and "tf-keras" not in names:
        raise SpecError(f"{where}.packages: TF_USE_LEGACY_KERAS is set but tf-keras is not pinned")
    if tf is not None and Version(pinned_version(tf)) >= Version("2.16"):
        if not {"keras", "tf-keras"} & set(names):
            raise SpecError(f"{where}.packages: {tf} installs the newest Keras 3 unless Keras is "
                            "pinned; add keras==3.X.Y (or tf-keras with TF_USE_LEGACY_KERAS)")


def _check_backend(where: str, env: dict, names: dict) -> None:
    """A venv without TensorFlow runs Keras 3 on JAX or PyTorch, which must be named and pinned."""
    backend = env.get("backend", "tensorflow")
    if env.get("runner", "venv") != "venv" or TENSORFLOW_NAMES & set(names):
        return
    if backend == "tensorflow":
        raise SpecError(f"{where}.backend: no TensorFlow is pinned, so Keras has no backend to run on; pin "
                        "tensorflow-cpu==X.Y.Z, or set backend: jax or torch (and pin jax or torch)")
    if backend not in names:
        raise SpecError(f"{where}.packages: backend: {backend} but {backend} is not pinned; add {backend}==X.Y.Z")


def _check_runner(where: str, env: dict, names: dict) -> None:
    """What only a docker (or an existing interpreter's) environment may say, and what it must."""
    runner = env.get("runner", "venv")
    if runner != "python" and "interpreter" in env:
        raise SpecError(f"{where}.interpreter: only an environment with runner: python uses an existing interpreter")
    if runner == "python":
        for key in ("python", "packages"):
            if key in env:
                raise SpecError(f"{where}.{key}: a runner: python environment uses its interpreter as it is: it "
                                "installs nothing and its versions are read from it; remove " + key)
    if runner != "docker":
        for key, why in (("image", "only a docker environment (runner: docker) runs in an image"),
                         ("device", "a GPU environment runs in a container (runner: docker), which asks the "
                                    "Docker engine for the GPUs")):
            if env.get(key, "cpu") != "cpu":
                raise SpecError(f"{where}.{key}: {why}")
        return
    if "python" in env:
        raise SpecError(f"{where}.python: a docker environment runs its image's Python (the report records "
                        "which); remove python")
    if "image" not in env and not TENSORFLOW_NAMES & set(names):
        raise SpecError(f"{where}.packages: a docker environment without image needs a TensorFlow pin "
                        "(tensorflow-cpu==X.Y.Z): its version names the image, tensorflow/tensorflow:X.Y.Z")


def check_semantics(raw: dict) -> None:
    """What the JSON Schema cannot check of a schema-checked ``matrix.yaml`` (templates expanded):
    profiles naming missing environments, malformed or unpinned version requirements, each
    environment (:func:`check_env`), numbers that are not finite, timeouts out of range, tolerance
    overrides that match everything or set nothing, expected failures with bad keys, requirements or
    dates.

    Raises:
        SpecError: the first problem, naming its key path.
    """
    envs = raw["envs"]
    for pname, profile in raw["profiles"].items():
        for i, name in enumerate(profile["envs"]):
            if name not in envs:
                raise SpecError(f"profiles.{pname}.envs[{i}]: no environment named {name!r} "
                                f"(defined: {', '.join(sorted(envs))})")
    for i, extra in enumerate(raw.get("extra_pins", [])):
        for key, text in [("when", extra["when"])] + [(f"pins[{j}]", p) for j, p in enumerate(extra["pins"])]:
            parse_requirement(f"extra_pins[{i}].{key}", text)
    for name, env in envs.items():
        check_env(f"envs.{name}", env)
    _check_finite(raw)
    spec_bounds.check_timeouts(raw.get("timeouts", {}), SpecError)
    for i, override in enumerate(raw.get("tolerance", {}).get("overrides", [])):
        _check_override(f"tolerance.overrides[{i}]", override)
    for i, entry in enumerate(raw.get("expected_failures", [])):
        _check_expected_failure(f"expected_failures[{i}]", entry)


def _check_finite(raw: dict) -> None:
    """.nan and .inf pass the schema's minimum; a nan tolerance fails every comparison, an
    infinite one passes every cell (negative controls too), an infinite timeout never fires."""
    tolerance = raw.get("tolerance", {})
    numbers = [(f"tolerance.{k}", tolerance.get(k)) for k in ("atol", "rtol")]
    numbers += [(f"tolerance.overrides[{i}].{k}", o.get(k))
                for i, o in enumerate(tolerance.get("overrides", [])) for k in ("atol", "rtol")]
    numbers += [(f"timeouts.{k}", v) for k, v in raw.get("timeouts", {}).items()]
    for where, value in numbers:
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{where}: expected a finite number, got {value}")


def _check_override(where: str, override: dict) -> None:
    if not {"atol", "rtol"} & set(override):
        raise SpecError(f"{where}: sets neither atol nor rtol")
    if not set(OVERRIDE_CRITERIA) & set(override):
        raise SpecError(f"{where}: names none of {', '.join(OVERRIDE_CRITERIA)}, so it would match every "
                        "cell; set tolerance.atol/rtol for that")


def _check_expected_failure(where: str, entry: dict) -> None:
    wrong = expectation_keys.problem(where, entry)
    if wrong:
        raise SpecError(wrong)
    for key in ("producer", "consumer")[:1 + ("consumer" in entry)]:
        text = entry[key]
        req = parse_requirement(f"{where}.{key}", text)
        if req.extras or req.marker or req.url:
            raise SpecError(f"{where}.{key}: {text!r} may hold only a package name and version specifiers, "
                            "like \"keras>=3\"")
        if canonicalize_name(req.name) not in DECISIVE:
            raise SpecError(f"{where}.{key}: {text!r}: environments are matched by the versions of "
                            f"{', '.join(sorted(DECISIVE))}, not of {req.name}")
        spec_bounds.check_satisfiable(f"{where}.{key}", text, SpecError)
    try:
        datetime.date.fromisoformat(entry["expires"])
    except ValueError:
        raise SpecError(f"{where}.expires: {entry['expires']!r} is not a date (YYYY-MM-DD)") from None
