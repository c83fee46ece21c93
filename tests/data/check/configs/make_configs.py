"""Writes the configs beside it: ``python make_configs.py PREFIX DEEPCUT_DIR`` in an environment with
TensorFlow/Keras (run on 2026-12-07 in TF 2.15.1 as ``keras2.15`` and Keras 3.15.1 on TF 2.21.0 as
``keras3.15``). DEEPCUT_DIR holds deepcut 0.7.0.0's ``deepcut/model.py`` (MIT) as ``deepcut_model.py``."""
import importlib
import sys

from tensorflow import keras


def main(out, deepcut_dir):
    sys.path.insert(0, deepcut_dir)
    deepcut = importlib.import_module("deepcut_model")
    with open(out + "-deepcut.json", "w") as handle:
        handle.write(deepcut.get_convo_nn2().to_json())
    layers = keras.layers
    ids = layers.Input(shape=(6,), name="ids")
    embedded = layers.Embedding(50, 4)(layers.Reshape((2, 3))(ids))
    features = layers.Input(shape=(3,), name="features")
    layers.Embedding(7, 2)(layers.Input(shape=(2,), name="direct", dtype="int32"))  # not in the model
    model = keras.Model([features, ids], [layers.Flatten()(embedded), layers.Dense(4)(features)])
    with open(out + "-reshape.json", "w") as handle:
        handle.write(model.to_json())
    sequential = keras.Sequential([keras.Input(shape=(4,)), layers.Embedding(30, 3), layers.Flatten(),
                                   layers.Dense(1)])
    with open(out + "-sequential.json", "w") as handle:
        handle.write(sequential.to_json())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
