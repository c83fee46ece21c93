"""The data of a scan: one finding, and a file's findings."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# What a finding lets a loader do: run code from the file, read or write paths it names, exhaust
# memory or disk, or nothing by itself (information a user needs, e.g. custom objects to supply).
EFFECTS = ("code", "path", "resource", "info")
KINDS = ("lambda", "function_reference", "function_by_table", "custom_class", "custom_object",
         "lambda_keras_function", "safe_mode_toggle", "tfsm_layer", "torch_module_wrapper", "lookup_vocabulary_path",
         "hdf5_external_link", "hdf5_external_dataset", "hdf5_virtual_dataset", "oversized_dataset",
         "zip_path_traversal", "zip_bomb", "savedmodel_file_op", "savedmodel_print", "config_too_large",
         "not_scanned", "npz_object_array", "pickle_import", "layer_name_traversal",
         "polyglot")


@dataclass(frozen=True)
class Finding:
    """One thing in a model file that a loader may execute or follow.

    Attributes:
        kind: one of :data:`KINDS`; the advisories table (harness/check/security/advisories.yaml) names these as
            the ``features`` an advisory needs.
        effect: one of :data:`EFFECTS`.
        where: the member, HDF5 path or config path, e.g. ``config.json:/config/layers[1] 'lam'``.
        detail: one line for people.
    """

    kind: str
    effect: str
    where: str
    detail: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class ScannedFile:
    """A file's findings. ``container``: ``hdf5``, ``zip`` or ``directory`` (for a file that is both a zip
    and HDF5, the one Keras 3 loads: ``harness.check.modelfile.containers``); ``format``: the matrix's
    format name (``h5``, ``keras``, ``savedmodel``, ``h5_weights``, ``keras_weights``). ``views``: for such a
    polyglot, each container's own scan by container (its findings are all of theirs, each ``where``
    prefixed with its container); which one a target loads is
    ``harness.check.security.advisories.loaded_views``."""

    path: str
    container: str
    format: str
    findings: list[Finding] = field(default_factory=list)
    views: dict[str, ScannedFile] = field(default_factory=dict, repr=False)

    @property
    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def to_json(self) -> dict:
        out = {"path": self.path, "container": self.container, "format": self.format,
               "findings": [f.to_json() for f in self.findings]}
        if self.views:
            out["containers"] = list(self.views)
        return out
