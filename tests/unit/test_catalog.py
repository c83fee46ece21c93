"""The catalog of formats and loaders (harness/worker/catalog.py) is whole, and the JSON Schema of
matrix.yaml names exactly its formats and loaders."""
import copy
import json

from harness.config import spec
from harness.config.validation import SCHEMA_PATH
from harness.execute import plan
from harness.worker import catalog

SCHEMA = json.loads(SCHEMA_PATH.read_text())


def schema_disagreements(schema: dict) -> list[str]:
    """Where ``schema``'s ``formatNames``/``loaderNames`` (a name, or a list of names) differ from the
    catalog: the names in each enum (a format's old names too: matrix.yaml may still use them), and those
    the ``x-expected`` text lists (in any order; the names now only)."""
    out = []
    loaders = {loader.name for loader in catalog.LOADER_TABLE}
    for name, values, old in (("formatNames", set(catalog.FORMATS), set(catalog.FORMAT_ALIASES)),
                              ("loaderNames", loaders, set())):
        single, listed = schema["$defs"][name]["oneOf"]
        expected = schema["$defs"][name]["x-expected"]
        listed_in_text = expected.removeprefix("one of ").removesuffix(", or a list of them").split(", ")
        for where, names, wanted in ((f"{name}.oneOf[0].enum", single["enum"], values | old),
                                     (f"{name}.oneOf[1].items.enum", listed["items"]["enum"], values | old),
                                     (f"{name}.x-expected", listed_in_text, values)):
            if len(names) != len(set(names)) or set(names) != wanted:
                out.append(f"{where}: {sorted(names)} are not the catalog's {sorted(wanted)}")
    formats = schema["$defs"]["formats"]["items"]["enum"]  # matrix.yaml's and a profile's formats
    if set(formats) != set(catalog.FORMATS) | set(catalog.FORMAT_ALIASES):
        out.append(f"formats.items.enum: {sorted(formats)} are not the catalog's")
    return out


def test_the_schema_names_the_catalogs_formats_and_loaders():
    assert schema_disagreements(SCHEMA) == []


def test_a_format_missing_from_the_schema_is_caught():
    edited = copy.deepcopy(SCHEMA)
    edited["$defs"]["formatNames"]["oneOf"][1]["items"]["enum"].remove("json")
    assert [m.split(":")[0] for m in schema_disagreements(edited)] == ["formatNames.oneOf[1].items.enum"]
    edited = copy.deepcopy(SCHEMA)
    edited["$defs"]["loaderNames"]["oneOf"][0]["enum"].append("torch.load")
    edited["$defs"]["loaderNames"]["x-expected"] = "one of load_model, or a list of them"
    assert [m.split(":")[0] for m in schema_disagreements(edited)] == ["loaderNames.oneOf[0].enum",
                                                                      "loaderNames.x-expected"]


def test_every_format_is_read_by_catalogued_loaders_and_every_loader_reads_a_format():
    loaders = [loader.name for loader in catalog.LOADER_TABLE]
    assert len(set(loaders)) == len(loaders) and len(set(catalog.FORMATS)) == len(catalog.FORMATS)
    read = [name for f in catalog.FORMAT_TABLE for name in f.loaders]
    assert set(read) == set(loaders) == set(catalog.FAMILY)  # a loader without a family: a KeyError in the check
    assert len(set(catalog.FILES.values())) == len(catalog.FILES)  # two formats never write the same file
    assert {loader.family for loader in catalog.LOADER_TABLE} == {catalog.KERAS_MODEL, catalog.SIGNATURE}
    assert catalog.CONTROL_FORMAT not in catalog.FORMATS and catalog.CONTROL_LOADER not in loaders


def test_the_host_reads_the_catalog():
    assert spec.FORMATS is catalog.FORMATS and plan.LOADERS is catalog.LOADERS
    assert (plan.CONTROL_FORMAT, plan.CONTROL_LOADER) == (catalog.CONTROL_FORMAT, catalog.CONTROL_LOADER)
    assert catalog.SAVED_MODEL_FORMATS == ("savedmodel", "tf_saved_model", "export")
    assert catalog.FULL_MODEL_FORMATS == ("h5", "keras", "savedmodel")
