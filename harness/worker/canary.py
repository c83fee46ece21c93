"""Load one canary of the security proof in this environment and say what happened (one JSON line).

Run by path inside an environment (stdlib + numpy + the environment's Keras; Python 3.7 syntax), never
imported by the orchestrator: ``python canary.py CANARY_JSON``, where the JSON names the file, the
loader (``load_model`` or ``load_weights``), the marker file a payload would write and the sentinel
value a followed path would load. The load runs with safe_mode as a user has it (the default). The
working directory is the canary's own folder, so whatever a payload writes stays there.

Outcomes: ``marker`` (the payload ran), ``sentinel`` (weights came from the file a link or external
storage points to), ``needs custom_objects`` (refused for want of a registered class, then loaded with
``custom_objects``; or a lookup layer's vocabulary holds the sentinel token a followed path brings),
``refused`` (an error, nothing ran or was followed), ``loaded`` (no error, no
marker, no sentinel).
"""
import importlib
import json
import os
import sys
import traceback

MAX_ERROR = 4096  # characters of an error message kept: Keras's "A total of N objects could not be loaded"
# names the reason only in the lines after the first


def _model(keras):
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])


def _sentinel(model, value):
    import numpy as np
    weights = [w for layer in model.layers for w in layer.get_weights()]
    return bool(weights) and all(np.allclose(w, value) for w in weights)


def _token(model, token):
    """Whether a lookup layer of the loaded object (or the object itself) has ``token`` in its vocabulary."""
    for layer in [model] + list(getattr(model, "layers", [])):
        if hasattr(layer, "get_vocabulary") and token in [str(t) for t in layer.get_vocabulary()]:
            return True
    return False


def _custom(keras):
    class CanaryLayer(keras.layers.Dense):
        pass
    return {"kcm_canary>CanaryLayer": CanaryLayer, "CanaryLayer": CanaryLayer}


def main(task):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = importlib.import_module(task.get("keras_module", "keras"))  # keras, or tf_keras
    result = {"canary": task["canary"], "loader": task["loader"], "keras": keras.__version__,
              "backend": keras.backend.backend()}
    marker = os.path.abspath(task["marker"])
    error = None
    model = None
    try:
        if task["loader"] == "load_weights":
            model = _model(keras)
            model.load_weights(task["file"])
        else:
            model = keras.models.load_model(task["file"], compile=False)
    except Exception as exc:  # noqa: BLE001 - every error is an outcome
        error = "%s: %s" % (type(exc).__name__, str(exc)[:MAX_ERROR])
        result["traceback_tail"] = traceback.format_exc()[-MAX_ERROR:].splitlines()[-3:]
    result["error"] = error
    if os.path.exists(marker):
        result["outcome"] = "marker"
    elif model is not None and task.get("sentinel") is not None and _sentinel(model, task["sentinel"]):
        result["outcome"] = "sentinel"
    elif model is not None and task.get("sentinel_token") and _token(model, task["sentinel_token"]):
        result["outcome"] = "sentinel"
    elif error and task.get("retry_custom_objects"):
        try:
            keras.models.load_model(task["file"], compile=False, custom_objects=_custom(keras))
            result["outcome"] = "needs custom_objects"
        except Exception as exc:  # noqa: BLE001
            result["outcome"] = "refused"
            result["retry_error"] = "%s: %s" % (type(exc).__name__, str(exc)[:MAX_ERROR])
    else:
        result["outcome"] = "refused" if error else "loaded"
    return result


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        TASK = json.load(handle)
    sys.path.insert(0, TASK["module_dir"])  # the user's own modules are importable, as they are for the user
    print(json.dumps(main(TASK)))
