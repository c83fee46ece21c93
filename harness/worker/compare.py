"""Compare a loaded model's outputs with the producer's reference outputs.

Pure numpy, Python 3.7 syntax: it runs inside every environment under test.
"""
import numpy as np


def as_output_list(outputs):
    """Flatten what ``predict`` returned into a list of float64 numpy arrays.

    A dict is ordered by key, so producer and consumer agree on the order.
    """
    if isinstance(outputs, dict):
        return [np.asarray(outputs[key], dtype=np.float64) for key in sorted(outputs)]
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(item, dtype=np.float64) for item in outputs]
    return [np.asarray(outputs, dtype=np.float64)]


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
        ``max_abs`` and ``max_rel`` (floats, None when shapes differ) and
        ``reason`` (None, or why the outputs cannot be compared).
    """
    if len(expected) != len(actual):
        return _incomparable("model returned {} outputs, reference has {}".format(len(actual), len(expected)))
    max_abs, max_rel, within = 0.0, 0.0, True
    for index, (ref, got) in enumerate(zip(expected, actual)):
        if ref.shape != got.shape:
            return _incomparable("output {} has shape {}, reference has {}".format(index, got.shape, ref.shape))
        if ref.size == 0:
            continue
        diff = np.abs(got - ref)
        if not np.all(np.isfinite(diff)):
            within = False
            max_abs, max_rel = float("inf"), float("inf")
            continue
        rel = diff / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float(rel.max()))
        within = within and bool(np.all(diff <= atol + rtol * np.abs(ref)))
    return {"within": within, "max_abs": max_abs, "max_rel": max_rel, "reason": None}


def _incomparable(reason):
    return {"within": False, "max_abs": None, "max_rel": None, "reason": reason}
