"""Golden artifacts: one environment's artifacts frozen into the repository.

``nox -s golden -- ENV`` copies what ``produce(env=ENV)`` saved into
``fixtures/golden/ENV/``, with ``produce.jsonl`` (its produce records) and
``GOLDEN.json`` (the environment's facts, the date, and every file's SHA-256
and size). Every consume phase then also loads the golden artifacts, as the
producer ``golden-ENV``, so old versions stay tested without installing them.
A file whose hash no longer matches is reported as a corrupt artifact
(``load-error``, ``CorruptArtifact``) instead of being loaded.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from harness.config.spec import SpecError
from harness.guard import OutsideWorkdir, loads, within
from harness.worker.catalog import FORMAT_ALIASES
from harness.workdir import PhaseFiles, WorkDir, read_records

PREFIX = "golden-"
MANIFEST = "GOLDEN.json"
RECORDS = "produce.jsonl"


@dataclass(frozen=True)
class Golden:
    """A frozen producer: its label (``golden-tf2.10``), folder, facts and produce records."""

    name: str
    path: Path
    facts: dict
    frozen: str
    records: tuple[dict, ...]

    @property
    def device(self) -> str:
        return self.facts.get("device", "cpu")

    def versions(self) -> dict[str, Version]:
        """``tensorflow``, ``keras`` and ``python`` (minor) as the frozen environment recorded them (``tf-keras`` too,
        where its Keras was tf_keras), as ``EnvSpec.versions`` gives them for a live environment; so
        ``spec.keras_flavor`` of them is the recorded ``keras_flavor``."""
        out = {}
        for name in ("tensorflow", "keras"):
            if self.facts.get(name):
                out[name] = Version(self.facts[name])
        if self.facts.get("keras_flavor") == "tf_keras" and "keras" in out:
            out["tf-keras"] = out["keras"]
        if self.facts.get("python"):
            out["python"] = Version(".".join(self.facts["python"].split(".")[:2]))
        return out

    def artifact_dir(self, fixture: str, fmt: str) -> Path:
        """The folder of one frozen artifact (its names through :func:`harness.guard.within`): under the
        format's name, or, frozen before the format was renamed, under its old name (goldens keep their
        folders and GOLDEN.json as frozen; ``harness.worker.catalog.FORMAT_ALIASES``).

        Raises:
            harness.guard.OutsideWorkdir: a name that would leave the golden's folder.
        """
        folder = within(self.path, fixture, fmt)
        frozen = [within(self.path, fixture, old) for old, new in FORMAT_ALIASES.items() if new == fmt]
        return next((old for old in frozen if old.is_dir() and not folder.exists()), folder)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discover(directory: Path) -> dict[str, Golden]:
    """Every golden under ``directory`` (``<fixtures_dir>/golden``), keyed by label.

    Raises:
        SpecError: a golden folder without a readable GOLDEN.json.
    """
    goldens = {}
    # A dot-folder is a freeze in progress (or one interrupted), not a golden.
    folders = sorted(p for p in directory.glob("*") if p.is_dir() and not p.name.startswith("."))
    for folder in folders if directory.is_dir() else []:
        try:
            manifest = loads((folder / MANIFEST).read_text())
        except (FileNotFoundError, ValueError) as exc:
            raise SpecError(f"{folder}: not a golden artifact folder ({MANIFEST}: {exc})") from None
        name = PREFIX + folder.name
        records = tuple(dict(r, producer=name) for r in read_records(folder / RECORDS))
        goldens[name] = Golden(name, folder, manifest.get("facts", {}), manifest.get("frozen", "?"), records)
    return goldens


def freeze(env: str, workdir: Path, golden_dir: Path, fixtures: list[str] | None = None) -> Golden:
    """Copy ``env``'s artifacts from ``workdir`` into ``golden_dir/env`` with its manifest.

    Args:
        fixtures: only these fixtures (default: every fixture the producer saved).

    Raises:
        SpecError: the producer has no saved artifacts in ``workdir`` (run its produce session first).
    """
    produced = PhaseFiles(workdir, "produce", env)
    records = [r for r in produced.records()
               if "scope" not in r and (not fixtures or r.get("fixture") in fixtures)]
    saved = [r for r in records if r.get("verdict") == "saved"]
    if not saved:
        only = f" of fixture {', '.join(fixtures)}" if fixtures else ""
        raise SpecError(f"{env}: no saved artifacts{only} in {workdir}; run "
                        f"`nox -s \"produce(env='{env}')\" -- --workdir {workdir}` first")
    facts_path = produced.facts
    try:  # a record's names become folders: each must be a plain name, inside artifacts/ and golden/
        target, staging = within(golden_dir, env), within(golden_dir, f".{env}.freezing")
        sources = [WorkDir(workdir).artifact(env, r.get("fixture"), r.get("format")) for r in saved]
        for r in saved:
            within(staging, r.get("fixture"), r.get("format"))
    except OutsideWorkdir as exc:
        raise SpecError(f"{env}: a produce record in {produced.results}: {exc}; nothing frozen") from None
    missing = [str(p) for p in [facts_path] + sources if not p.exists()]
    if missing:
        raise SpecError(f"{env}: the produce results in {workdir} name files that are gone ({missing[0]}); "
                        f"nothing frozen, {golden_dir / env} left as it was; rerun the produce session")
    facts = json.loads(facts_path.read_text())
    # Build the new golden beside the old one and swap it in only when complete, so a failure
    # halfway never leaves an old version's irreplaceable golden destroyed.
    shutil.rmtree(staging, ignore_errors=True)
    for record, source in zip(saved, sources, strict=True):
        shutil.copytree(source, within(staging, record["fixture"], record["format"]))
    (staging / RECORDS).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    files = {str(p.relative_to(staging)): {"sha256": _sha256(p), "bytes": p.stat().st_size}
             for p in sorted(staging.rglob("*")) if p.is_file()}
    manifest = {"env": env, "frozen": datetime.date.today().isoformat(), "facts": facts, "files": files}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return discover(golden_dir)[PREFIX + env]
