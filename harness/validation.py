"""The checks of ``matrix.yaml`` that :mod:`harness.spec` (its environments) and
:mod:`harness.templates` (the environments a template is locked to) share: requirements, the
packages that decide a verdict, and one environment's mapping beyond the JSON Schema.
"""
from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from harness.errors import HarnessError
from harness import spec_bounds

SCHEMA_PATH = Path(__file__).with_name("matrix.schema.json")
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
