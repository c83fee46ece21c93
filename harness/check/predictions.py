"""Known failures that apply to a user's file, said before it loads, and whether each held after.

Before any environment loads the file, ``nox -s check`` reads what the model holds from its stored config
(the HDF5 ``model_config`` attribute, a ``.keras`` archive's ``config.json``, the ``--architecture`` JSON of
a weights-only file), as data and never deserialized, with the producer's own traversal
(``harness.worker.holds``), and lists per environment the matrix.yaml ``expected_failures`` entries that
cover it: the check's source environment stands for the producer (it is the environment closest to the
versions that wrote the file), each environment of the check for the consumer, the file's format and each
loader as in the matrix. A fixture-keyed entry (``fixture:``/``tags:``) never applies to a user's file.
A SavedModel's config is not read (``keras_metadata.pb`` is not a model config), so entries keyed by
``layers``/``traits`` are not predicted for it, and the check says so.

After the load, each row of the report says which predicted entry explained its failure
(``harness.report.expectations.explains``: the entry's verdict, error and band), or that the prediction was
wrong: the row passed, or failed in another way. The predictions are kept in ``predictions.json`` beside the
check's plan, so the report reads what was said before the load.
"""
from __future__ import annotations

import datetime
import logging
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

logging.getLogger("h5py").setLevel(logging.WARNING)
import h5py  # noqa: E402

from harness.check.check_plan import CheckPlan, env_versions  # noqa: E402
from harness.check.modelfile import MAX_READ_BYTES, _member  # noqa: E402
from harness.config import spec as spec_mod  # noqa: E402
from harness.guard import loads, read_text  # noqa: E402
from harness.report.escape import md_code, md_text  # noqa: E402
from harness.report.expectations import expected, explains  # noqa: E402
from harness.worker.holds import holds_of  # noqa: E402
from harness.workdir import read_json, write_json  # noqa: E402

FILE = "predictions.json"


def stored_config(path: Path, fmt: str, architecture: Path | None) -> tuple[dict | None, str]:
    """The model config stored in a user's file, parsed as JSON data, and where it was read.

    Args:
        path: the model file (already identified by ``harness.check.modelfile.read_model_file``).
        fmt: its format there (``h5``, ``keras``, ``savedmodel``, ``h5_weights``, ``keras_weights``).
        architecture: ``--architecture`` (``model.to_json()``), for a weights-only file.
    Returns:
        (the config, or None; where it was read, or why there is none). Never raises for a bad file: the
        check goes on without predictions by what the model holds.
    """
    try:
        if architecture is not None:
            return loads(read_text(Path(architecture), "--architecture")), f"{Path(architecture).name} (--architecture)"
        if fmt == "keras" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return loads(_member(archive, "config.json", path)), "config.json in the archive"
        if fmt in ("h5", "keras"):
            with h5py.File(path, "r") as handle:
                if "model_config" not in handle.attrs:
                    return None, "no model_config attribute"
                if handle.attrs.get_id("model_config").get_storage_size() > MAX_READ_BYTES:
                    return None, f"model_config is past {MAX_READ_BYTES // 2**20} MiB; not read"
                value = handle.attrs["model_config"]
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            return loads(text), "the HDF5 model_config attribute"
    except Exception as exc:  # noqa: BLE001 - untrusted file: any failure only means no predictions by holdings
        return None, f"its config could not be read ({type(exc).__name__}: {str(exc)[:200]})"
    return None, "a SavedModel's config is not read without loading it"


@dataclass
class Prediction:
    """One entry that covers one (environment, loader) of the check: what it expects and why it applies.

    ``why`` is what in the file makes it apply: ``holds a GRU``, ``shows time_major``, or the versions and
    format alone (``a h5 file from keras>=3``).
    """

    env: str
    loader: str
    entry: int
    why: str
    expects: str
    consumer: str
    link: str | None


def _why(entry: spec_mod.ExpectedFailure, holds: dict | None, fmt: str) -> str:
    if not entry.keyed_by_holds:
        return f"a {fmt} file from {entry.producer}"
    held = [name for name in entry.layers or () if name in holds["layers"]]
    shown = [name for name in entry.traits or () if name in holds["traits"]]
    return "; ".join(filter(None, ("holds " + ", ".join(f"a {n}" for n in held) if held else "",
                                   "shows " + ", ".join(shown) if shown else "")))


def predict(checked: CheckPlan, spec: spec_mod.MatrixSpec) -> dict:
    """What the file holds and the entries that cover each (environment, loader) of the check.

    Returns:
        ``{"holds": {...} or None, "read_from": str, "predictions": [Prediction as dict, ...]}``.
    """
    found = checked.file
    config, where = stored_config(Path(found["path"]), found["format"],
                                  Path(checked.architecture) if checked.architecture else None)
    holds = None
    if config is not None:
        try:
            holds = holds_of(config)
        except ValueError as exc:
            where = f"{where}: {exc}"
    producer = spec.envs[checked.source].versions()
    out = []
    for env in checked.envs:
        consumer = spec.envs[env].versions()
        for loader in checked.loaders:
            for entry in spec.expected_failures:
                if entry.phase != "consume" or entry.level != "outputs" or not entry.live(datetime.date.today()):
                    continue
                if entry.matches(producer, consumer, None, found["format"], loader, (), holds):
                    out.append(Prediction(env, loader, entry.index, _why(entry, holds, found["format"]),
                                          expected(entry), env_versions(spec.envs[env]).describe(), entry.link))
    return {"holds": holds, "read_from": where, "predictions": [asdict(p) for p in out]}


def write(checked: CheckPlan, spec: spec_mod.MatrixSpec) -> dict:
    """:func:`predict`, written to ``predictions.json`` beside the plan (read by the report after the load)."""
    found = predict(checked, spec)
    write_json(Path(checked.workdir) / FILE, found)
    return found


def read(checked: CheckPlan) -> dict | None:
    """What :func:`write` wrote for this check, or None (a check planned before predictions were made)."""
    path = Path(checked.workdir) / FILE
    return read_json(path) if path.is_file() else None


def holds_line(found: dict) -> str:
    """``layers Dense, GRU; traits orthogonal, time_major (from the HDF5 model_config attribute)``."""
    holds = found["holds"]
    if holds is None:
        return f"not known: {found['read_from']} (entries keyed by layers/traits are not predicted)"
    return (f"layers {', '.join(holds['layers']) or 'none'}; traits {', '.join(holds['traits']) or 'none'} "
            f"(from {found['read_from']})")


def before_text(found: dict) -> str:
    """The lines the check prints before any environment loads the file."""
    lines = [f"what the model holds: {holds_line(found)}"]
    if not found["predictions"]:
        return "\n".join(lines + ["known failures that apply: none in matrix.yaml's expected_failures"])
    lines.append("known failures that apply (matrix.yaml expected_failures), before loading:")
    for p in found["predictions"]:
        link = f", {p['link']}" if p["link"] else ""
        lines.append(f"- {p['env']} ({p['loader']}): {p['why']}: {p['consumer']} fails with {p['expects']} "
                     f"(expected_failures[{p['entry']}]{link})")
    return "\n".join(lines)


def _seen(cell) -> tuple[str, str]:
    """What a row did: ``("loaded and matched", "")``, or its verdict and its error (``Type: message``) or reason."""
    if cell.verdict == "pass":
        return "loaded and matched", ""
    text = cell.signature if cell.error_type else (cell.reason or "")
    return f"gave {cell.original_verdict or cell.verdict}", text if len(text) <= 160 else text[:160] + "…"


def outcomes(result) -> list[dict]:
    """Per row of a check's result (``harness.check.report.CheckResult``) with a prediction or a failure: the
    predicted entries, which one explained its failure, and whether the prediction held.

    Returns:
        ``[{"env", "loader", "predicted": [indices], "explained_by": index or None, "held": True/False/None,
        "seen": str, "error": str}]``; ``held`` None where nothing was predicted (a failure no entry foretold).
    """
    found = read(result.plan) or {}
    predicted: dict[tuple[str, str], list[int]] = {}
    for p in found.get("predictions", []):
        predicted.setdefault((p["env"], p["loader"]), []).append(p["entry"])
    entries = {e.index: e for e in spec_mod.load(result.plan.matrix).expected_failures} if predicted else {}
    out = []
    for row in result.rows:
        cell = row.cell
        if cell.verdict in ("unsupported", "skipped", "bad-input", "reference"):
            continue
        indices = [i for i in predicted.get((cell.consumer, cell.loader), []) if i in entries]
        if not indices and not cell.failed:
            continue
        explained = next((i for i in indices if cell.failed and explains(entries[i], cell)), None)
        seen, error = _seen(cell)
        out.append({"env": cell.consumer, "loader": cell.loader, "predicted": indices, "explained_by": explained,
                    "held": (explained is not None) if indices else None, "seen": seen, "error": error})
    return out


def to_json(result) -> dict | None:
    """What the file holds, the predictions made before the load and their :func:`outcomes`, for report.json."""
    found = read(result.plan)
    return None if found is None else dict(found, outcomes=outcomes(result))


def markdown(result) -> list[str]:
    """The report's section: what the file holds, and each prediction's outcome after the load."""
    found = read(result.plan)
    if found is None:
        return []
    out = ["## Known failures: predicted and seen", "", f"What the model holds: {md_text(holds_line(found))}.", ""]
    results = outcomes(result)
    if not results:
        return out + ["No known failure applies to this file, and none was seen.", ""]
    for r in results:
        where = md_text(f"{r['env']} ({r['loader']})")
        said = ", ".join(f"expected_failures[{i}]" for i in r["predicted"])
        seen = md_text(r["seen"]) + (f" {md_code(r['error'])}" if r["error"] else "")
        if r["held"] is None:
            out.append(f"- {where}: no known failure was predicted; it {seen}")
        elif r["held"]:
            out.append(f"- {where}: prediction held: expected_failures[{r['explained_by']}] explains it: it {seen}")
        else:
            out.append(f"- {where}: **prediction wrong**: {said} predicted a failure, and it {seen}")
    return out + [""]
