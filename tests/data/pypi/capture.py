"""Capture the index answers tests/unit/test_lock.py resolves against (run by hand, from the repository root).

    python3 tests/data/pypi/capture.py

Each file is PyPI's JSON API answer for one project (https://pypi.org/pypi/NAME/json), trimmed to
the releases since SINCE (pre-releases and yanked ones included) and to the fields harness/config/lock.py
reads (lock.FILE_FIELDS), with a "comment" saying where and when it was captured. requires-dist.json
holds, per release of TF 2.16+ and tf-keras, the Requires-Dist lines naming tensorflow or keras that
the index's wheel metadata gave (harness.check.releases.index_requires), null where it gave none.
"""
import datetime
import json
import sys
from pathlib import Path

from packaging.version import InvalidVersion, Version

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from harness.config import lock  # noqa: E402

SINCE = {"tensorflow-cpu": "2.12.0rc0", "keras": "3.0.0", "tf-keras": "0", "jax": "0.4.20", "jaxlib": "0.4.20"}
LINUX_ONLY = {"jaxlib"}  # many wheels a release: keep the linux x86_64 ones, the only ones lock.py may choose


def trimmed(name: str, since: str) -> dict:
    document = lock.fetch(name)
    releases = {}
    for text, files in document["releases"].items():
        try:
            if Version(text) < Version(since):
                continue
        except InvalidVersion:
            continue
        releases[text] = [{k: f.get(k) for k in lock.FILE_FIELDS} for f in files
                          if name not in LINUX_ONLY or ("manylinux" in f["filename"] and "x86_64" in f["filename"])]
    return {"comment": f"{lock.INDEX_URL}/{name}/json captured {datetime.date.today()} by capture.py, releases "
                       f">= {since} and the fields harness/config/lock.py reads only"
                       + (", linux x86_64 wheels only" if name in LINUX_ONLY else ""),
            "info": {"name": document["info"]["name"]}, "releases": releases}


def requires() -> dict:
    from harness.check import releases
    read = releases.index_requires(lock.fetch)
    out = {"comment": f"Requires-Dist of {lock.INDEX_URL} wheels (PEP 658 metadata) naming tensorflow or keras, "
                      f"captured {datetime.date.today()} by capture.py; null: the index served no metadata file"}
    for name, since in (("tensorflow-cpu", "2.16.0"), ("tf-keras", "2.16.0")):
        for release in lock.releases(lock.fetch(name)):
            if release.version >= Version(since):
                lines = read(name, release.version, "3.11")
                out[f"{name}=={release.version}"] = lines and [x for x in lines if "keras" in x or "tensorflow" in x]
    return out


if __name__ == "__main__":
    Path(__file__).with_name("requires-dist.json").write_text(json.dumps(requires(), indent=1) + "\n")
    for name, since in SINCE.items():
        path = Path(__file__).with_name(f"{name}.json")
        document = trimmed(name, since)
        by_version = sorted(document["releases"].items(), key=lambda i: Version(i[0]))
        releases = ",\n".join(f" {json.dumps(v)}: [\n  " + ",\n  ".join(json.dumps(f, sort_keys=True) for f in files)
                               + "\n ]" for v, files in by_version)
        path.write_text(f'{{"comment": {json.dumps(document["comment"])},\n "info": {json.dumps(document["info"])},\n'
                        f' "releases": {{\n{releases}\n}}}}\n')  # one line a file: small, and diffs read well
        print(path, path.stat().st_size)
