"""Every TensorFlow/Keras version difference the worker knows about, in one place.

This module runs inside the environment under test: Python 3.7 to 3.13, TF 2.x,
Keras 2 (inside TF), ``tf_keras`` or Keras 3. It imports only the standard
library, numpy and what the environment brings, and keeps Python 3.7 syntax.

The rest of the worker asks this module questions ("which Keras is this?",
"can this version write a Keras SavedModel?") instead of branching on version
numbers itself.
"""
import contextlib
import inspect
import os
import platform
import random

import numpy as np

from catalog import NEEDS_TF, SAVED_MODEL_FORMATS, SIGNATURE_LOADERS

# Magic bytes of the containers a Keras file can really be, whatever its name.
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


def version_tuple(text):
    """Parse "2.16.0rc1" into (2, 16, 0); unknown parts count as 0."""
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def _legacy_keras_requested():
    return os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes")


class KerasRuntime(object):
    """The Keras this environment really gives a user, and what it can do.

    Attributes:
        keras: the Keras module (``tf.keras`` for Keras 2 inside TF, ``tf_keras``,
            or the ``keras`` package for Keras 3).
        tf: the ``tensorflow`` module, or None where the backend does without it.
        flavor: ``"keras2"`` (Keras 2 inside TF), ``"tf_keras"`` or ``"keras3"``.
        version: the Keras version as a string, e.g. ``"2.15.0"``.
        backend: ``"tensorflow"``, ``"jax"`` or ``"torch"``.
    """

    def __init__(self):
        self.tf = None
        try:
            import tensorflow as tf  # noqa: F401  (imported for its side effects too)
            self.tf = tf
        except ImportError:
            tf = None
        if _legacy_keras_requested():
            import tf_keras as keras
            self.keras, self.flavor, self.version = keras, "tf_keras", keras.__version__
        else:
            try:
                import keras as keras_pkg
                pkg_version = getattr(keras_pkg, "__version__", None)
            except ImportError:
                keras_pkg, pkg_version = None, None
            if pkg_version and version_tuple(pkg_version) >= (3, 0, 0):
                self.keras, self.flavor, self.version = keras_pkg, "keras3", pkg_version
            else:
                if tf is None:
                    raise ImportError("Keras 2 needs TensorFlow, which is not installed")
                self.keras = tf.keras
                self.flavor = "keras2"
                self.version = pkg_version or getattr(tf.keras, "__version__", tf.__version__)
        if self.flavor == "keras3":
            self.backend = self.keras.backend.backend()
        else:
            self.backend = "tensorflow"
        self.v = version_tuple(self.version)

    # ---------------------------------------------------------------- facts
    def facts(self):
        """What this environment really is, as a JSON-ready dict of strings."""
        facts = {
            "python": platform.python_version(),
            "tensorflow": self.tf.__version__ if self.tf is not None else None,
            "keras": self.version,
            "keras_flavor": self.flavor,
            "backend": self.backend,
            "numpy": np.__version__,
            "h5py": _module_version("h5py"),
            "device": self.device(),
            "platform": platform.platform(),
        }
        return facts

    def device(self):
        """``"gpu"`` if TensorFlow sees a GPU, else ``"cpu"``."""
        if self.tf is None:
            return "cpu"
        try:
            gpus = self.tf.config.list_physical_devices("GPU")
        except AttributeError:  # TF < 2.1
            gpus = self.tf.config.experimental.list_physical_devices("GPU")
        return "gpu" if gpus else "cpu"

    # ---------------------------------------------------------------- seeds
    def clear_session(self):
        """``keras.backend.clear_session()``: layer names start over, as in a fresh process. Without
        the ``gc.collect()`` that Keras 3 adds by default (its ``free_memory`` argument): measured on
        2026-12-01 with Keras 3.15 on TF 2.21, 0.14 s a call with it and 0.001 s without, and the
        harness calls it before every model it builds; Python's own collector still runs. Keras 2's
        has no such argument and no such cost (0.003 s)."""
        clear = self.keras.backend.clear_session
        try:
            takes_free_memory = "free_memory" in inspect.signature(clear).parameters
        except (TypeError, ValueError):  # no signature to read
            takes_free_memory = False
        if takes_free_memory:
            clear(free_memory=False)
        else:
            clear()

    def seed(self, value):
        """Seed Python, numpy and the framework, so a fixture builds the same way."""
        random.seed(value)
        np.random.seed(value)
        set_seed = getattr(self.keras.utils, "set_random_seed", None)  # Keras >= 2.7
        if set_seed is not None:
            set_seed(value)
        elif self.tf is not None:
            self.tf.random.set_seed(value)

    # ------------------------------------------------------------ eager runs
    @contextlib.contextmanager
    def eagerly(self, model):
        """Run ``model``'s ``fit``, ``train_on_batch`` and ``predict`` eagerly inside the block.

        Tracing a ``tf.function`` (or a JAX ``jit``) is most of what one fit or predict of a small
        fixture costs: measured on 2 cores with TF 2.15, the recurrent fixture's build-and-train took
        57 s traced and 3 s eager (benchmarks/, 2026-12-01). Used only where the harness itself
        trains or predicts (the producer's training, the negative control) or built the model from
        the fixture's code (read a weights file into it: ``catalog.FROM_CODE_LOADERS``), never for a
        model loaded from a file, whose predict must take the path a user's does.

        ``run_eagerly`` exists in TF 2.0+ and Keras 3; ``compile`` resets it, so enter the block
        after compiling. On leaving, the setting is restored and the train/test/predict functions
        made meanwhile are dropped, so a later ``predict`` or save traces as a user's would.
        """
        before = model.run_eagerly
        model.run_eagerly = True
        try:
            yield model
        finally:
            model.run_eagerly = before
            for name in ("train_function", "test_function", "predict_function"):
                if getattr(model, name, None) is not None:
                    setattr(model, name, None)

    # ------------------------------------------------------- capabilities
    def cannot_write(self, fmt):
        """Why this Keras cannot write ``fmt``, or None when it can."""
        if fmt == "savedmodel" and self.flavor == "keras3":
            return ("Keras 3 cannot save a Keras SavedModel (model.save needs .keras or .h5); "
                    "model.export writes a TF SavedModel instead (Keras 3.0 release notes)")
        if fmt == "h5_weights" and self.flavor == "keras3":
            return ("Keras 3 save_weights writes only the .weights.h5 layout; "
                    "it cannot write legacy HDF5 weights (Keras 3.0 release notes)")
        if fmt == "export" and not hasattr(self.keras.Model, "export"):
            return "Keras {} has no Model.export (it is in Keras 2.13 and later)".format(self.version)
        if fmt == "export" and self.tf is None:
            return "model.export writes a TF SavedModel, which needs TensorFlow; this environment has none"
        if fmt in ("tf_saved_model", "checkpoint") and not self.tf_variables():
            return "{} needs TensorFlow variables; the {} backend has none".format(fmt, self.backend)
        return None

    def cannot_read(self, fmt, loader, container):
        """Why this Keras cannot load ``fmt`` (really stored as ``container``) with ``loader``.

        Returns None when it can (or might: then the load is tried for real).
        """
        if fmt in SAVED_MODEL_FORMATS and loader == "load_model" and self.flavor == "keras3":
            return ("Keras 3 load_model reads only .keras and .h5 files; load a SavedModel "
                    "with keras.layers.TFSMLayer (Keras 3.0 release notes)")
        if fmt == "keras" and container == "zip" and self.flavor == "keras2" and self.v < (2, 12, 0):
            return ("Keras {} predates the .keras zip format (Keras 2.12 release notes); "
                    "it opens every .keras path as HDF5".format(self.version))
        if loader == "TFSMLayer" and not hasattr(self.keras.layers, "TFSMLayer"):
            return "keras.layers.TFSMLayer exists only in Keras 3; this is {} {}".format(self.flavor, self.version)
        if loader == "Checkpoint.read" and not self.tf_variables():
            return "Checkpoint.read needs TensorFlow variables; the {} backend has none".format(self.backend)
        if loader in NEEDS_TF and self.tf is None:
            return "{} needs TensorFlow, which this environment does not have".format(loader)
        return self._cannot_load_weights(fmt, loader)

    def _cannot_load_weights(self, fmt, loader):
        """Why this Keras refuses the keyword arguments of ``load_weights(path, by_name=True)`` or
        ``load_weights(path, skip_mismatch=True)`` for ``fmt``, or None where it takes them.

        Read in each release's code (keras-team/keras, keras-team/tf-keras tags):
        - Keras 2.10 to 2.15 and tf_keras 2.16 read legacy HDF5 weights (and, before 2.13, a
          ``.weights.h5`` path too) with ``by_name``; ``skip_mismatch=True`` without ``by_name=True``
          raises ValueError "skip_mismatch can only be set to True when by_name is True"
          (keras/engine/training.py 2.10, keras/saving/legacy/save.py 2.13 to 2.15, tf_keras 2.16).
          From 2.13 a ``.weights.h5`` path goes to the saving library with skip_mismatch, and
          ``by_name`` is dropped unread (keras/saving/saving_api.py): the call loads by topology.
        - Keras 3.0 to 3.15 take ``by_name`` for legacy ``.h5`` only; for ``.weights.h5`` they raise
          ValueError ("Invalid keyword arguments", from 3.11 "`by_name` only supports loading legacy
          '.h5' or '.hdf5' files"). They take ``skip_mismatch`` for both; for legacy ``.h5`` 3.0 to
          3.10 ignore it and 3.11 passes it on (keras/src/saving/saving_api.py).
        """
        legacy_layout = fmt == "h5_weights" or (self.flavor != "keras3" and self.v < (2, 13, 0))
        if loader == "load_weights_by_name" and self.flavor == "keras3" and not legacy_layout:
            return ("Keras 3 load_weights takes by_name only for legacy .h5 weights; for a .weights.h5 file it "
                    "raises ValueError (keras/src/saving/saving_api.py, 3.0 to 3.15)")
        if loader == "load_weights_skip_mismatch" and self.flavor != "keras3" and legacy_layout:
            return ("{} {} load_weights of HDF5 weights takes skip_mismatch=True only with by_name=True "
                    "(ValueError \"skip_mismatch can only be set to True when by_name is True\")".format(
                        "tf_keras" if self.flavor == "tf_keras" else "Keras", self.version))
        return None

    def tf_variables(self):
        """True where the model's variables are TensorFlow variables (Keras 2, or Keras 3 on TF)."""
        return self.tf is not None and self.backend == "tensorflow"

    def feed(self, x):
        """Inputs as this Keras accepts them: Keras 3 rejects numpy string arrays in fit and
        predict (``Invalid dtype: str256``, keras-team/keras#20479), so they become tf.constant."""
        if self.flavor != "keras3" or self.tf is None:
            return x
        if isinstance(x, dict):
            return dict((k, self.feed(v)) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return [self.feed(v) for v in x]
        if isinstance(x, np.ndarray) and x.dtype.kind in "USO":
            return self.tf.constant(x.astype(str))
        return x

    # -------------------------------------------------------------- loading
    def load_model_takes(self, name):
        """True where ``keras.models.load_model`` has the keyword argument ``name`` (``safe_mode``:
        Keras 2.13+, tf_keras and Keras 3, not Keras 2.10; ``compile``: every version)."""
        return name in inspect.signature(self.keras.models.load_model).parameters

    def load_model(self, path, custom_objects=None, **call):
        """``keras.models.load_model(path, custom_objects=..., **call)``: the call as users write it,
        so every argument ``call`` does not give keeps this Keras's default (``compile=True``,
        ``safe_mode=True``). ``safe_mode`` is dropped where load_model has none (Keras 2.10, where
        nothing guards the load: see :meth:`safe_mode_guard`)."""
        kwargs = dict((name, value) for name, value in call.items() if self.load_model_takes(name))
        return self.keras.models.load_model(path, custom_objects=custom_objects, **kwargs)

    def model_from_json(self, text, custom_objects=None):
        """A model with fresh weights from the text of ``model.to_json()``."""
        return self.keras.models.model_from_json(text, custom_objects=custom_objects)

    def allow_unsafe_deserialization(self):
        """Turn safe_mode off for this process, where Keras has a global switch (Keras 3's
        ``keras.config.enable_unsafe_deserialization``; it also covers ``model_from_json``)."""
        enable = getattr(getattr(self.keras, "config", None), "enable_unsafe_deserialization", None)
        if enable is not None:
            enable()

    def safe_mode_guard(self, fmt, loader, container, safe_mode):
        """Whether safe_mode guards this load against code stored in the file (a Lambda layer's
        marshalled bytecode): ``"on"``, ``"off"`` (--unsafe), ``"none"`` (this Keras has no
        safe_mode for this file: such code runs), or ``"n/a"`` (the loader runs TF graphs only).

        Sources: Keras 2.13 to 2.15 and tf_keras apply safe_mode only to the .keras zip format
        (an HDF5 Lambda loads with safe_mode=True, seen in TF 2.15 and tf_keras 2.16); Keras 3
        applies it to .keras and model_from_json (seen in 3.3 and 3.15), and to HDF5 only where
        its legacy HDF5 loader takes safe_mode (keras-team/keras#21602, merged 2025-08-20: seen
        in 3.15.1, not in 3.3.3, whose load_model runs an HDF5 Lambda); Keras 2.10 has none.
        """
        if loader in SIGNATURE_LOADERS:
            return "n/a"
        if not safe_mode:
            return "off"
        if self.flavor == "keras3":
            return "none" if loader == "load_model" and container == "hdf5" and not self._keras3_hdf5_safe_mode() \
                else "on"
        if loader == "load_model" and container == "zip" and self.load_model_takes("safe_mode"):
            return "on"
        return "none"

    def _keras3_hdf5_safe_mode(self):
        """True where Keras 3's legacy HDF5 loader takes (and so honours) safe_mode."""
        try:
            from keras.src.legacy.saving import legacy_h5_format
        except ImportError:
            return False
        return "safe_mode" in inspect.signature(legacy_h5_format.load_model_from_hdf5).parameters

    def input_specs(self, model):
        """``[(name, shape, dtype)]`` of a Keras model's inputs (shape a list with None for
        unknown sizes, dtype a name such as "float32"), or None when the model has no inputs
        yet (a subclassed model that was saved before it was called)."""
        tensors = getattr(model, "inputs", None)
        if not tensors:
            return None
        names = getattr(model, "input_names", None) if self.flavor != "keras3" else None
        names = names or [t.name for t in tensors]
        return [(name, [None if d is None else int(d) for d in tuple(t.shape)], getattr(t.dtype, "name", str(t.dtype)))
                for name, t in zip(names, tensors)]


def _module_version(name):
    try:
        module = __import__(name)
    except ImportError:
        return None
    return getattr(module, "__version__", None)


def container_of(path):
    """What a saved path really is: ``"zip"``, ``"hdf5"``, ``"directory"``, ``"json"``,
    ``"tf-checkpoint"`` or ``"unknown"``."""
    if os.path.isdir(path):
        return "directory"
    if not os.path.exists(path) and os.path.exists(path + ".index"):
        return "tf-checkpoint"
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head == HDF5_MAGIC:
        return "hdf5"
    if head.lstrip().startswith(b"{"):
        return "json"
    return "unknown"
