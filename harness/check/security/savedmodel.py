"""Ops in a SavedModel that read or write files or print, found without TensorFlow.

``saved_model.pb`` is walked as protobuf wire format with the protobuf reader of
:mod:`harness.check.modelfile` (``protobuf_fields``), along the field numbers of
tensorflow/core/protobuf/saved_model.proto, meta_graph.proto and
tensorflow/core/framework/{graph,function,node_def,op_def}.proto:

    SavedModel.meta_graphs (2) -> MetaGraphDef.graph_def (2) -> GraphDef.node (1) -> NodeDef.op (2)
                                                              -> GraphDef.library (2) -> FunctionDefLibrary.function (1)
    FunctionDef.signature (1) -> OpDef.name (1);  FunctionDef.node_def (3) -> NodeDef.op (2)

so op names are read exactly (no string search), in the top-level graph and in every function.
``keras_metadata.pb`` (Keras 2 SavedModels) holds each layer's config as JSON:
SavedMetadata.nodes (1) -> SavedObject.metadata (5), scanned like any config.

SaveV2 is how every SavedModel writes its variables: it is reported only outside the save
functions (``*_traced_save*``) and the TF1 saver's ``save/`` nodes, e.g. in a restore or init function.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.check.modelfile import protobuf_fields, read_pb, saved_model_pb
from harness.check.security.configs import config_findings
from harness.check.security.model import Finding

FILE_OPS = {"ReadFile": "reads a file", "WriteFile": "writes a file", "SaveV2": "writes a checkpoint",
            "Save": "writes a checkpoint", "SaveSlices": "writes a checkpoint", "MatchingFiles": "lists files"}
PRINT_OPS = {"PrintV2": "prints", "Print": "prints"}


def _sub(data: bytes, number: int, where: Path):
    return (value for n, wire, value in protobuf_fields(data, where) if n == number and wire == 2)


def _node_ops(nodes, where: Path):
    for node in nodes:
        name = next(_sub(node, 1, where), b"").decode("utf-8", "replace")
        op = next(_sub(node, 2, where), b"").decode("utf-8", "replace")
        yield name, op


def graph_ops(data: bytes, where: Path) -> list[tuple[str, str, str]]:
    """Every ``(function or "graph", node name, op)`` of a serialized SavedModel."""
    found = []
    for meta in _sub(data, 2, where):
        for graph in _sub(meta, 2, where):
            found += [("graph", name, op) for name, op in _node_ops(_sub(graph, 1, where), where)]
            for library in _sub(graph, 2, where):
                for function in _sub(library, 1, where):
                    signature = next(_sub(function, 1, where), b"")
                    fname = next(_sub(signature, 1, where), b"").decode("utf-8", "replace")
                    found += [(fname, name, op) for name, op in _node_ops(_sub(function, 3, where), where)]
    return found


def _normal_save(function: str, node: str) -> bool:
    return "_traced_save" in function or (function == "graph" and node.startswith("save"))


def savedmodel_findings(folder: Path) -> list[Finding]:
    """Findings of a SavedModel folder: file and print ops, and the configs in keras_metadata.pb.

    Raises:
        UserInputError: no saved_model.pb, or it is not protobuf.
    """
    pb = saved_model_pb(folder)
    found = []
    for function, node, op in graph_ops(read_pb(pb), pb):
        where = f"saved_model.pb:{function}/{node}"
        if op in FILE_OPS and not (op.startswith("Save") and _normal_save(function, node)):
            found.append(Finding("savedmodel_file_op", "path", where, f"op {op} {FILE_OPS[op]} when it runs"))
        elif op in PRINT_OPS:
            found.append(Finding("savedmodel_print", "info", where, f"op {op} {PRINT_OPS[op]} when it runs"))
    metadata = folder / "keras_metadata.pb"
    if metadata.is_file():
        for node in _sub(read_pb(metadata), 1, metadata):
            for text in _sub(node, 5, metadata):
                try:
                    found += config_findings(json.loads(text), "keras_metadata.pb")
                except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                    continue
    return list(dict.fromkeys(found))
