import json, sys, os
sys.path.insert(0, "/tmp/c22/deepcut")
out = sys.argv[1]
import tensorflow as tf
from tensorflow import keras
import deepcut_model
m = deepcut_model.get_convo_nn2()
open(out + "-deepcut.json", "w").write(m.to_json())
L = keras.layers
x = L.Input(shape=(6,), name="ids")
y = L.Reshape((2, 3))(x)
e = L.Embedding(50, 4)(y)
f = L.Input(shape=(3,), name="features")
d = L.Dense(4)(f)
e2 = L.Embedding(7, 2)(L.Input(shape=(2,), name="direct", dtype="int32"))
m2 = keras.Model([f, x], [L.Flatten()(e), d])
open(out + "-reshape.json", "w").write(m2.to_json())
s = keras.Sequential([keras.Input(shape=(4,)), L.Embedding(30, 3), L.Flatten(), L.Dense(1)])
s.build((None, 4))
open(out + "-sequential.json", "w").write(s.to_json())
print(keras.__version__ if hasattr(keras, "__version__") else tf.__version__)
