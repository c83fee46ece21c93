"""Compare a loaded model's outputs with the producer's reference outputs.

Pure numpy, Python 3.7 syntax: it runs inside every environment under test.
"""
import numpy as np


def as_output_list(outputs, names=None):
    """Flatten what ``predict`` returned into a list of float64 numpy arrays.

    A dict is ordered by ``names`` (the reference's output names, in the
    reference's order) when its keys are those names; by N when its keys are
    ``output_N`` (a SavedModel exported by Keras 3 numbers its outputs in the
    model's order); else by key, so producer and consumer agree on the order.
    """
    if isinstance(outputs, dict):
        keys = sorted(outputs)
        if names and sorted(names) == keys:
            keys = list(names)
        elif keys and all(k.startswith("output_") and k[7:].isdigit() for k in keys):
            keys.sort(key=lambda k: int(k[7:]))
        return [np.asarray(outputs[key], dtype=np.float64) for key in keys]
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(item, dtype=np.float64) for item in outputs]
    return [np.asarray(outputs, dtype=np.float64)]


def output_names(outputs, model):
    """The names of ``predict``'s outputs in the order :func:`as_output_list` gives them:
    a dict's sorted keys, else the model's ``output_names`` (None when unknown)."""
    if isinstance(outputs, dict):
        return sorted(outputs)
    names = list(getattr(model, "output_names", None) or [])
    count = len(outputs) if isinstance(outputs, (list, tuple)) else 1
    return names if len(names) == count else None


def compare_outputs(expected, actual, atol, rtol):
    """Compare two lists of arrays element-wise, as ``numpy.isclose`` does.

    Args:
        expected: list of arrays from the producer (the reference).
        actual: list of arrays from the consumer, same length and shapes.
        atol: absolute tolerance (same unit as the outputs).
        rtol: relative tolerance (a fraction of ``|expected|``).

    Returns:
        dict with ``within`` (bool: every element satisfies
        ``|actual - expected| <= atol + rtol * |expected|``, NaN never does),
        ``max_abs`` and ``max_rel`` (floats, None when shapes differ),
        ``margin`` (float, None when shapes differ: the largest
        ``|actual - expected| / (atol + rtol * |expected|)``, how much of its
        allowance the worst element uses; a pass has ``margin <= 1``, an exact
        match 0, a NaN or a difference where the allowance is 0 gives inf) and
        ``reason`` (None, or why the outputs cannot be compared).
    """
    if len(expected) != len(actual):
        return _incomparable("model returned {} outputs, reference has {}".format(len(actual), len(expected)))
    max_abs, max_rel, margin, within = 0.0, 0.0, 0.0, True
    for index, (ref, got) in enumerate(zip(expected, actual)):
        if ref.shape != got.shape:
            return _incomparable("output {} has shape {}, reference has {}".format(index, got.shape, ref.shape))
        if ref.size == 0:
            continue
        diff = np.abs(got - ref)
        if not np.all(np.isfinite(diff)):
            within = False
            max_abs, max_rel, margin = float("inf"), float("inf"), float("inf")
            continue
        allowed = atol + rtol * np.abs(ref)
        rel = diff / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
        with np.errstate(divide="ignore", invalid="ignore"):
            used = np.where(diff == 0, 0.0, diff / allowed)  # x/0 is inf for x > 0
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float(rel.max()))
        margin = max(margin, float(used.max()))
        within = within and bool(np.all(diff <= allowed))
    return {"within": within, "max_abs": max_abs, "max_rel": max_rel, "margin": margin, "reason": None}


def _incomparable(reason):
    return {"within": False, "max_abs": None, "max_rel": None, "margin": None, "reason": reason}
