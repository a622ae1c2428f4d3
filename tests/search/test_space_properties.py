"""Property-based tests of the search-space parser: whatever a user's YAML holds, `load_space` (and
its reader on an already parsed document) either gives a SearchSpace or raises SpaceError with a
one-line message naming the file; never another exception, never a traceback's worth of text.

Three sources of input: arbitrary text, YAML dumped from documents built of the parser's own
vocabulary (top-level keys, config keys, distributions, options, operators, losses), and such
documents handed to the reader directly (keys and values YAML could not even write)."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ganstab.search.space import load_space
from ganstab.search.space_model import KINDS, OPERATORS, SearchSpace, SpaceError
from ganstab.search.space_reader import TOP_LEVEL, read_space

CONFIG_KEYS = ["train.lr_d", "train.lr_g", "train.loss", "train.steps", "train.batch_size", "train.beta1",
               "train.label_smoothing", "train.gp_weight", "train.noise_std", "model.hidden", "data.name",
               "lr_d", "train.nope", "inception_weights"]  # fmt: skip
WORDS = [*TOP_LEVEL, *KINDS, *OPERATORS, "log", "step", "when", "otherwise", "ns", "hinge", "wgan-gp",
         "ring8", "grid25", "lessons", "vanilla", "1e-5"]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS + CONFIG_KEYS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(CONFIG_KEYS + WORDS), st.text(max_size=8))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)
ranges = st.lists(st.one_of(st.integers(-5, 300), st.floats(-1, 1e3), st.sampled_from(["1e-5", "x"])), max_size=3)
params = st.dictionaries(
    st.sampled_from(CONFIG_KEYS),
    st.one_of(
        st.dictionaries(st.sampled_from([*KINDS, "log", "step"]), st.one_of(ranges, scalars), max_size=3),
        st.fixed_dictionaries(
            {"choice": st.lists(scalars, max_size=4)},
            optional={"when": st.dictionaries(st.sampled_from(CONFIG_KEYS), documents, max_size=2),
                      "otherwise": scalars},  # fmt: skip
        ),
        documents,
    ),
    max_size=4,
)
space_docs = st.fixed_dictionaries(
    {},
    optional={
        "description": st.one_of(st.text(max_size=20), scalars),
        "base": st.one_of(st.sampled_from(["lessons", "vanilla", "nope"]), scalars),
        "fixed": st.one_of(st.dictionaries(st.sampled_from(CONFIG_KEYS), scalars, max_size=3), documents),
        "params": st.one_of(params, documents),
    },
)

_DIR = Path(tempfile.mkdtemp(prefix="ganstab-space-props-"))


def _check(load) -> None:
    """`load()` gives a SearchSpace or a one-line SpaceError naming the file; nothing else."""
    try:
        space = load()
    except SpaceError as e:
        event("SpaceError")
        message = str(e)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith(str(_DIR / "space.yaml")), message
    else:
        event("SearchSpace")
        assert isinstance(space, SearchSpace)


def _load_text(text: str) -> None:
    path = _DIR / "space.yaml"
    path.write_text(text, encoding="utf-8")
    _check(lambda: load_space(path))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_text_gives_a_space_or_one_clear_error(text: str) -> None:
    _load_text(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.printable + "{}[]:-,&*!|>'\"%@`#", max_size=200))
def test_yaml_like_text_gives_a_space_or_one_clear_error(text: str) -> None:
    _load_text(text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space_docs)
def test_space_shaped_yaml_gives_a_space_or_one_clear_error(doc: dict) -> None:
    _load_text(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(space_docs, documents))
@example(doc={"base": []})  # found by this test: an unhashable base raised TypeError
def test_the_reader_on_any_document_gives_a_space_or_one_clear_error(doc: object) -> None:
    _check(lambda: read_space(_DIR / "space.yaml", doc))
