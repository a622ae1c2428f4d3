"""Property tests for the readers users feed their own logs to (`ganstab diagnose LOG`): whatever
a CSV file (any header, values and delimiter), a JSONL file (any objects) or a `--tag` mapping
holds, reading it either gives logs in the trace schema or raises `LogError` with a one-line
message that names the file; never another exception (a traceback)."""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ganstab.diagnose.logs import COLUMN_ALIASES, COLUMNS, LoadedLog, LogError, read_logs

# A few hundred inputs per reader (max_examples on each test), each test under about ten seconds
# on one core; no deadline per input, since a shared machine's pauses are no bug.
UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}

# Names a log may use: the schema's own, its aliases (any case), and anything else.
KNOWN_NAMES = sorted({a for aliases in COLUMN_ALIASES.values() for a in aliases})
names = st.one_of(
    st.sampled_from(KNOWN_NAMES),
    st.sampled_from(KNOWN_NAMES).map(str.upper),
    st.text(max_size=12),
)
# Cells: numbers, the words for non-finite numbers, blanks and any text.
number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**400).map(str),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1_0", "0x10", "1e999", "-0", "  2.5 "]),
)
cells = st.one_of(number_text, st.text(max_size=8))
DELIMITERS = [",", ";", "\t", "|", " "]


def _reads_or_says_why(path: Path, **kwargs) -> list[LoadedLog] | None:
    """The property: logs in the schema, or a LogError whose message is one line naming the file."""
    try:
        logs = read_logs(path, **kwargs)
    except LogError as e:
        message = str(e)
        assert "\n" not in message and "\r" not in message, message
        assert path.name in message or "tags:" in message, message
        return None
    for log in logs:
        assert set(log.trace) <= set(COLUMNS) and {"step", "d_loss", "g_loss"} <= set(log.trace)
        steps = log.trace["step"]
        assert np.isfinite(steps).all() and (np.diff(steps) > 0).all()  # sorted, one row per step
        assert all(len(v) == len(steps) for v in log.trace.values())
    return logs


def _read_as_file(text: str, suffix: str, **kwargs) -> list[LoadedLog] | None:
    """`_reads_or_says_why` of `text` written to a file named log{suffix}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"log{suffix}"
        path.write_text(text, encoding="utf-8")
        return _reads_or_says_why(path, **kwargs)


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


@st.composite
def csv_logs(draw) -> tuple[str, str]:
    header = draw(st.lists(names, min_size=0, max_size=6))
    width = max(len(header), 1)
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=width + 1), max_size=30))
    delimiter = draw(st.sampled_from(DELIMITERS))
    suffix = draw(st.sampled_from([".csv", ".log", ""]))
    return _csv_text(header, rows, delimiter), suffix


@st.composite
def well_formed_csv_logs(draw) -> tuple[str, str]:
    """A log with the required columns (under any of their names) and number-like cells, so that
    most inputs get past the header into the rows."""
    cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=3, max_size=8, unique=True))
    cols = list(dict.fromkeys(["step", "d_loss", "g_loss", *cols]))
    header = [draw(st.sampled_from(COLUMN_ALIASES[c])) for c in cols]
    n = draw(st.integers(0, 30))
    steps = draw(st.lists(st.integers(-5, 60).map(str) | number_text, min_size=n, max_size=n))
    rows = [[s, *draw(st.lists(number_text, min_size=len(cols) - 1, max_size=len(cols) - 1))] for s in steps]
    return _csv_text(header, rows, ","), ".csv"


@settings(max_examples=400, **UNTIMED)
@given(log=csv_logs(), min_rows=st.integers(0, 25))
@example(log=("step,d_loss,g_loss\n" + "1,2,3\n" * 5, ".csv"), min_rows=1)
@example(log=('step,d_loss,g_loss\n1,"' + "9" * 140_000 + '",1\n', ".csv"), min_rows=1)  # over csv's field limit
@example(log=('"step\nd_loss",g_loss\n1,2\n', ".csv"), min_rows=1)  # a header name holding a line break
def test_any_csv_log_parses_or_says_why(log: tuple[str, str], min_rows: int) -> None:
    _read_as_file(*log, min_rows=min_rows)


@settings(max_examples=300, **UNTIMED)  # most of these inputs are read to the end
@given(log=well_formed_csv_logs(), min_rows=st.integers(0, 25))
def test_a_csv_log_with_the_schemas_columns_parses_or_says_why(log: tuple[str, str], min_rows: int) -> None:
    logs = _read_as_file(*log, min_rows=min_rows)
    if logs:
        (one,) = logs
        assert len(one.trace["step"]) >= min_rows or one.diverged_at is not None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | number_text
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(names, json_values, max_size=6)


@st.composite
def jsonl_logs(draw) -> tuple[str, str]:
    records = draw(st.lists(json_objects | json_values, max_size=30))
    as_array = draw(st.booleans())
    if as_array:
        text = json.dumps(records)
    else:
        lines = [json.dumps(r) for r in records]
        # blank lines and lines that are not JSON at all, here and there
        for _ in range(draw(st.integers(0, 2))):
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "   ", "{", "step,d_loss"])))
        text = "\n".join(lines)
    return text, draw(st.sampled_from([".jsonl", ".ndjson", ".json", ".txt"]))


@st.composite
def schema_records(draw) -> tuple[str, str]:
    """Objects under the schema's names, values numbers or nulls, so that most get read."""
    n = draw(st.integers(0, 40))
    extra = draw(st.lists(st.sampled_from(COLUMNS[3:]), max_size=4, unique=True))
    value = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**400), 10**400)
    records = [
        {"step": draw(st.integers(-3, 60) | value), **{c: draw(value) for c in ("d_loss", "g_loss", *extra)}}
        for _ in range(n)
    ]
    return "\n".join(json.dumps(r) for r in records), ".jsonl"


@settings(max_examples=300, **UNTIMED)  # most of these inputs are read to the end
@given(log=jsonl_logs() | schema_records(), min_rows=st.integers(0, 25))
@example(log=('{"step": 1, "d_loss": 1e999999, "g_loss": ' + "1" * 400 + "}", ".jsonl"), min_rows=1)
@example(log=('{"step": ' + "1" * 5000 + ', "d_loss": 1, "g_loss": 2}', ".jsonl"), min_rows=1)  # over int's digit limit
@example(log=('[{"step": ' + "1" * 5000 + "}]", ".json"), min_rows=1)
def test_any_jsonl_log_parses_or_says_why(log: tuple[str, str], min_rows: int) -> None:
    _read_as_file(*log, min_rows=min_rows)


# Printed progress lines (Keras-GAN's, PyTorch-GAN's): bracketed `NAME: VALUE` groups, any names
# and values, a leading counter or none, and other lines (summaries, text) between them.
printed_names = names | st.sampled_from(["D loss", "G loss", "acc.", "Epoch", "Batch", "op_acc"])
printed_values = st.one_of(
    number_text.map(lambda v: v + "%" if v and v[-1].isdigit() else v),
    st.builds("{}/{}".format, st.integers(-2, 50), st.integers(0, 10**400)),
    st.text(max_size=5),
)
printed_items = st.builds("{}{}{}".format, printed_names, st.sampled_from([": ", "=", " "]), printed_values)
printed_groups = st.lists(printed_items, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
printed_lines = st.builds(
    "{}{}{}".format,
    st.sampled_from(["", "0 ", "7 "]) | st.integers(0, 10**400).map("{} ".format),
    st.lists(printed_groups, min_size=1, max_size=4).map(" ".join),
    st.sampled_from(["", " time: 0:00:01.5"]) | st.text(max_size=5),
)


@st.composite
def printed_logs(draw) -> tuple[str, str]:
    lines = draw(st.lists(printed_lines | st.text(max_size=20), max_size=40))
    return "\n".join(lines), draw(st.sampled_from([".log", ".txt", ""]))


@st.composite
def keras_gan_logs(draw) -> tuple[str, str]:
    """Keras-GAN's line under any steps and number text, so that most inputs get read."""
    n = draw(st.integers(0, 40))
    lines = [
        f"{draw(st.integers(0, 60))} [D loss: {draw(number_text)}, acc.: {draw(number_text)}%] [G loss: {draw(number_text)}]"
        for _ in range(n)
    ]
    return "Model: \"sequential_1\"\n" + "\n".join(lines), ".log"


@settings(max_examples=300, **UNTIMED)
@given(log=printed_logs() | keras_gan_logs(), min_rows=st.integers(0, 25))
@example(log=("0 [D loss: 1, acc.: 5%] [G loss: 2]\n" * 3, ".log"), min_rows=1)
@example(log=("[Epoch " + "9" * 400 + "/3] [Batch 1/9] [D loss: 1] [G loss: 2]\n", ".log"), min_rows=1)  # step inf
@example(log=("[Epoch 1/3] [D loss: 1]\n", ""), min_rows=1)
def test_any_printed_log_parses_or_says_why(log: tuple[str, str], min_rows: int) -> None:
    _read_as_file(*log, min_rows=min_rows)


GOOD_LOG = "".join(
    f"{s},{1 + math.sin(s)},{0.5 + math.cos(s)},{s % 3}\n" for s in range(1, 31)
)


@settings(max_examples=400, **UNTIMED)
@given(
    tags=st.dictionaries(st.sampled_from(COLUMNS) | st.text(max_size=8), names, max_size=4),
    header=st.lists(names, min_size=1, max_size=3),
    suffix=st.sampled_from([".csv", ".jsonl"]),
)
@example(tags={"d_loss": "errD", "g_loss": "errG"}, header=["errD", "errG"], suffix=".csv")
@example(tags={"d_loss\n": "x"}, header=["errD"], suffix=".csv")
@example(tags={"d_loss": "a\nb"}, header=["a\nb"], suffix=".jsonl")
def test_any_tag_mapping_reads_the_named_columns_or_says_why(
    tags: dict[str, str], header: list[str], suffix: str
) -> None:
    """`--tag COLUMN=NAME`: the named column is read for COLUMN, and a mapping to a column the log
    lacks, or of a name that is no trace column, is a one-line error."""
    header = ["step", *(h.strip() for h in header)]  # a CSV header's names are read stripped
    rows = [line.split(",") for line in GOOD_LOG.splitlines()]
    rows = [[r[0], *(r[1 + i % 3] for i in range(len(header) - 1))] for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"log{suffix}"
        if suffix == ".csv":
            path.write_text(_csv_text(header, rows, ","), encoding="utf-8")
        else:
            path.write_text("\n".join(json.dumps(dict(zip(header, map(float, r)))) for r in rows), encoding="utf-8")
        logs = _reads_or_says_why(path, tags=tags)
        if logs is None:
            return
        (log,) = logs
        if "step" in tags:  # another column as the step: its rows are sorted and merged
            return
        last = {name: i for i, name in enumerate(header)} if suffix == ".jsonl" else None
        for col, name in tags.items():  # the column named by the tag is the one read
            i = last[name] if last is not None else header.index(name)
            expected = np.array([float(r[i]) for r in rows])
            np.testing.assert_array_equal(log.trace[col], expected)
