"""No host module opens or reads a file except through ``harness.guard``'s reader (``read_bytes``,
``read_text``, ``open_regular``) and the writers: every other call that opens a file for reading is a
named exemption below, with the reason it is safe.

The host is ``harness/`` but ``harness/worker/`` (which runs inside the environments, stdlib only) and
``harness/guard.py`` itself. What counts as opening a file for reading, found in the syntax tree:
the builtin ``open``, ``os.open``, ``io.open``, ``os.fdopen``, any ``.open(...)``, ``.read_text()`` and
``.read_bytes()`` method, ``json.load``, ``np.load``, ``pickle.load``, ``h5py.File``, ``h5py.is_hdf5``,
``zipfile.ZipFile``, ``zipfile.is_zipfile``, ``tarfile.open`` and ``shutil``'s copies. A call whose mode
is a literal that only writes (``"w"``, ``"a"``, ``"ab"``, ``"x"``) is a writer and passes.
"""
from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"
MODULE_CALLS = {("json", "load"), ("np", "load"), ("numpy", "load"), ("pickle", "load"), ("h5py", "File"),
                ("h5py", "is_hdf5"), ("zipfile", "ZipFile"), ("zipfile", "is_zipfile"), ("tarfile", "open"),
                ("os", "open"), ("io", "open"), ("os", "fdopen"), ("shutil", "copy"), ("shutil", "copy2"),
                ("shutil", "copyfile"), ("shutil", "copytree"), ("shutil", "copyfileobj")}
METHODS = {"open", "read_text", "read_bytes"}

MODEL_FILE = ("the model file given to check or scan, judged by guard.regular first (modelfile._regular, "
              "findings.scan_file); h5py and zipfile read it lazily, and every whole read of a member or "
              "attribute is capped (MAX_READ_BYTES, MAX_MEMBER_BYTES)")
MEMBER = ("one member of an archive opened above, read in a capped block (its header's size can lie: read, "
          "then count)")
IN_MEMORY = "an archive or HDF5 file in memory (io.BytesIO of bytes read through the guard), no file"
# (module under harness/, enclosing function, callee as written) -> why it is safe
EXEMPT = {
    ("check/modelfile.py", "containers", "zipfile.is_zipfile"): MODEL_FILE,
    ("check/modelfile.py", "containers", "h5py.is_hdf5"): MODEL_FILE,
    ("check/modelfile.py", "_member", "archive.open"): MEMBER,
    ("check/modelfile.py", "_hdf5", "h5py.File"): MODEL_FILE,
    ("check/predictions.py", "stored_config", "zipfile.is_zipfile"): MODEL_FILE,
    ("check/predictions.py", "stored_config", "zipfile.ZipFile"): MODEL_FILE,
    ("check/predictions.py", "stored_config", "h5py.File"): MODEL_FILE,
    ("check/modelfile.py", "_keras_zip", "zipfile.ZipFile"): MODEL_FILE,
    ("check/inputs.py", "npy_header", "archive.open"): MEMBER + " (12 bytes, then a header of at most "
                                                                "HEADER_BYTES)",
    ("check/steps.py", "_npz", "zipfile.ZipFile"): "--inputs, judged by guard.regular just before",
    ("check/steps.py", "_npz", "archive.open"): MEMBER + " (256 bytes)",
    ("check/security/findings.py", "_hdf5_file", "h5py.File"): MODEL_FILE,
    ("check/security/findings.py", "_zip_file", "zipfile.ZipFile"): MODEL_FILE,
    ("check/security/findings.py", "_bounded", "archive.open"): MEMBER,
    ("check/security/findings.py", "_zip_weights", "h5py.File"): IN_MEMORY + " (model.weights.h5, read capped)",
    ("check/security/pickles.py", "torch_payload", "zipfile.ZipFile"): IN_MEMORY + " (a torch payload in a config)",
    ("check/security/pickles.py", "torch_payload", "archive.open"): MEMBER + " (MAX_PAYLOAD_BYTES)",
    ("check/security/pickles.py", "npz_object_arrays", "zipfile.ZipFile"): IN_MEMORY,
    ("check/security/pickles.py", "npz_object_arrays", "archive.open"): MEMBER + " (a header, then 16 MiB)",
    ("ci/merge.py", "_copy", "shutil.copy2"): ("a job's phase file, listed by merge.job_files only when it is a "
                                               "regular file and no symbolic link, its name checked against "
                                               "the run's environments, its target made by guard.within"),
    ("execute/golden.py", "freeze", "shutil.copytree"): ("an artifact folder judged by golden._plain_tree just "
                                                         "before: folders and regular files only, no links"),
}


def _callee(call: ast.Call) -> str | None:
    """The callee as written, where it is one that opens or reads a file; else None."""
    func = call.func
    if isinstance(func, ast.Name):
        return "open" if func.id == "open" else None
    if not isinstance(func, ast.Attribute):
        return None
    if isinstance(func.value, ast.Name) and (func.value.id, func.attr) in MODULE_CALLS:
        return f"{func.value.id}.{func.attr}"
    return ast.unparse(func) if func.attr in METHODS else None


def _writes(call: ast.Call) -> bool:
    """Whether the call's mode is a literal that only writes."""
    modes = [kw.value for kw in call.keywords if kw.arg == "mode"] + call.args[1:2]
    return any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax")
               and not set(m.value) & set("r+") for m in modes)


def reads() -> dict[tuple[str, str, str], int]:
    """Every call of the host that opens or reads a file, not through guard nor a writer: (module,
    enclosing function, callee) -> line of its first."""
    found = {}
    for path in sorted(HARNESS.rglob("*.py")):
        rel = path.relative_to(HARNESS).as_posix()
        if rel.startswith("worker/") or rel == "guard.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (callee := _callee(node)) and not _writes(node):
                inside = [f for f in functions if f.lineno <= node.lineno <= (f.end_lineno or f.lineno)]
                function = max(inside, key=lambda f: f.lineno).name if inside else "<module>"
                found.setdefault((rel, function, callee), node.lineno)
    return found


def test_the_host_reads_files_only_through_the_guarded_reader():
    unexempted = {f"harness/{rel}:{line} {function}: {callee}" for (rel, function, callee), line in reads().items()
                  if (rel, function, callee) not in EXEMPT}
    assert not unexempted, ("read through harness.guard (read_bytes, read_text, open_regular), or name the "
                            f"exemption and why it is safe: {sorted(unexempted)}")


def test_every_exemption_is_still_needed():
    stale = set(EXEMPT) - set(reads())
    assert not stale, f"exemptions that no longer match a call: {sorted(stale)}"


def test_the_search_finds_a_planted_read(tmp_path):
    planted = ast.parse("def f(p):\n    with open(p) as h:\n        return h.read() + p.read_text()\n"
                        "def g(p):\n    open(p, 'a').write('x')\n    return json.load(p)\n")
    calls = [_callee(c) for c in ast.walk(planted) if isinstance(c, ast.Call) and not _writes(c)]
    assert {"open", "p.read_text", "json.load"} <= set(calls)
    assert [c for c in ast.walk(planted) if isinstance(c, ast.Call) and _writes(c)]
