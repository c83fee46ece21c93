"""What a chars2vec 0.1.7 user's code does to load eng_50: Chars2Vec(50, char_to_ix).embedding_model,
then load_weights (chars2vec.load_model); c2v_model.py is the package's chars2vec/model.py, unchanged."""
import c2v_model

CHARS = 59  # len(char_to_ix) in trained_models/eng_50/model.pkl (read with pickletools, never unpickled)


def build():
    return c2v_model.Chars2Vec(50, dict((chr(33 + i), i) for i in range(CHARS))).embedding_model
