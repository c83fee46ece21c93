"""Fixtures shared by the unit tests."""
import h5py
import pytest


@pytest.fixture
def model(tmp_path):
    """A minimal Keras 2.15 .h5 as the host reads it (its attributes only; no weights, never loaded)."""
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs.update(keras_version="2.15.0", backend="tensorflow", model_config="{}")
    return path
