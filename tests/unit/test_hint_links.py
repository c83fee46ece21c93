"""Links stay whole in what the reports show: the path scrubbing of ``normalize`` once turned Keras's
``See https://www.tensorflow.org/guide/keras/save_and_serialize#registering_the_custom_object`` into
``See https:/<path>#registering_the_custom_object``. Checked over every link of the hint table and
every link in an error message recorded in tests/data."""
import json
from pathlib import Path

import pytest

from harness.report.hints import HINTS, normalize, shorten, urls

DATA = Path(__file__).resolve().parents[1] / "data"


def _recorded_messages() -> list[str]:
    """Every recorded error message (``error_type: error_message``) in tests/data that holds a link."""
    messages = set()
    for path in sorted(DATA.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            if "http" in line:
                record = json.loads(line)
                messages.add(f"{record.get('error_type')}: {record.get('error_message')}")
    return sorted(m for m in messages if urls(m))


MESSAGES = _recorded_messages()
HINT_LINKS = [url for _, hint in HINTS for url in urls(hint)]


def test_recorded_messages_with_links_are_found():
    assert MESSAGES, "tests/data holds Keras's registering_the_custom_object link; the scan found none"


@pytest.mark.parametrize("message", MESSAGES)
def test_a_recorded_message_keeps_its_links_whole(message):
    shown = normalize(message)
    for url in urls(message):
        if message.index(url) < 150:  # a link far past the 200 characters a signature keeps may go
            assert url in shown, shown
        assert "https:/<path>" not in shown


@pytest.mark.parametrize("url", HINT_LINKS + [
    "https://www.tensorflow.org/guide/keras/save_and_serialize#registering_the_custom_object",
    "https://github.com/keras-team/keras/issues/18830",
    "http://example.com/a/b/c_12?x=0x1f"])
def test_every_hint_link_survives_normalize_and_shorten(url):
    message = f"ValueError: Unknown layer: 'dense_3' at /tmp/run/7/model.keras. See {url} for details."
    assert url in normalize(message)
    assert normalize(message).startswith("ValueError: Unknown layer: 'dense_N' at <path> See ")
    cut = shorten(normalize(message), 70)  # a cut that would fall inside the link keeps it whole
    assert cut.endswith("…") and (url in cut or url not in cut[:-1] and len(cut) <= 71)
    assert url in shorten(message, message.index(url) + 5)


def test_the_issue_example_reads_as_written():
    message = ("ValueError: Unknown layer: 'ScaledDense'. Please ensure you are using a "
               "`keras.utils.custom_object_scope` and that this object is included in the scope. See "
               "https://www.tensorflow.org/guide/keras/save_and_serialize#registering_the_custom_object for details.")
    assert "See https://www.tensorflow.org/guide/keras/save_and_serialize#registering_the_custom_object for" \
        in normalize(message)
