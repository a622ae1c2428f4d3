"""Tests for the load_digits classifier metrics (real training, real cache files, no mocks)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from ganstab.engine.data import digits_real_images
from ganstab.engine.metrics.digits import (
    CACHE_ENV_VAR,
    CLASSIFIER_FILENAME,
    DigitsClassifier,
    _digits_labels,
    digits_metrics,
    load_digits_classifier,
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ganstab_cache")


@pytest.fixture(scope="module")
def clf(cache_dir: Path) -> DigitsClassifier:
    """Trained once per module into a temp cache dir (~3 s)."""
    return load_digits_classifier(cache_dir)


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return digits_real_images(8)


@pytest.fixture(scope="module")
def labels() -> torch.Tensor:
    return torch.as_tensor(_digits_labels())


@pytest.fixture(scope="module")
def confident_by_class(clf: DigitsClassifier, real: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
    """Real digits the classifier labels correctly with prob >= 0.9, grouped by class."""
    probs = clf.probs(real)
    ok = (probs.argmax(1) == labels) & (probs.max(1).values >= 0.9)
    return [real[ok & (labels == k)] for k in range(10)]


def _state_equal(a: DigitsClassifier, b: DigitsClassifier) -> bool:
    sa, sb = a.net.state_dict(), b.net.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------- real images


def test_real_images_shape_range_and_upsampling() -> None:
    x8 = digits_real_images()
    assert x8.shape == (1797, 1, 8, 8)
    assert x8.dtype == torch.float32
    assert float(x8.min()) == -1.0 and float(x8.max()) == 1.0
    x32 = digits_real_images(32)
    assert x32.shape == (1797, 1, 32, 32)
    assert float(x32.min()) >= -1.0 and float(x32.max()) <= 1.0
    # Bilinear upsampling keeps the per-image mean close to the original's.
    assert torch.allclose(x32.mean(dim=(2, 3)), x8.mean(dim=(2, 3)), atol=0.05)


@pytest.mark.parametrize("bad", [7, 0, 8.0, "16", True])
def test_real_images_rejects_bad_resolution(bad: object) -> None:
    with pytest.raises(ValueError, match="resolution must be an int >= 8"):
        digits_real_images(bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- classifier + cache


def test_classifier_trained_accurate_and_cached(clf: DigitsClassifier, cache_dir: Path) -> None:
    assert clf.trained_now
    assert clf.accuracy >= 0.9
    assert clf.path == cache_dir / CLASSIFIER_FILENAME
    assert clf.path.is_file()


def test_probs_and_features_shapes(clf: DigitsClassifier, real: torch.Tensor) -> None:
    x = real[:50].clone().requires_grad_(True)
    p = clf.probs(x)
    f = clf.features(x)
    assert p.shape == (50, 10) and f.shape == (50, 64)
    assert not p.requires_grad and not f.requires_grad
    assert torch.allclose(p.sum(dim=1), torch.ones(50), atol=1e-5)
    assert float(f.min()) >= 0.0  # post-ReLU features


def test_cache_is_reused(clf: DigitsClassifier, cache_dir: Path) -> None:
    path = cache_dir / CLASSIFIER_FILENAME
    before = path.stat().st_mtime_ns
    again = load_digits_classifier(cache_dir)
    assert not again.trained_now
    assert path.stat().st_mtime_ns == before
    assert again.accuracy == pytest.approx(clf.accuracy)
    assert _state_equal(again, clf)


def test_env_var_selects_cache_dir(
    clf: DigitsClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(clf.path, tmp_path / CLASSIFIER_FILENAME)
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    loaded = load_digits_classifier()
    assert loaded.path == tmp_path / CLASSIFIER_FILENAME
    assert not loaded.trained_now


@pytest.mark.parametrize("content", [b"", b"not a torch file \x00\x01\x02" * 10])
def test_corrupted_cache_is_retrained_deterministically(
    clf: DigitsClassifier, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / CLASSIFIER_FILENAME
    path.write_bytes(content)
    retrained = load_digits_classifier(tmp_path)
    assert retrained.trained_now
    assert retrained.accuracy >= 0.9
    # Same seed, same data: bit-identical weights to the module's classifier.
    assert _state_equal(retrained, clf)
    assert retrained.accuracy == clf.accuracy
    # The bad file was replaced by a readable one.
    assert not load_digits_classifier(tmp_path).trained_now


def test_incompatible_cache_content_is_retrained(clf: DigitsClassifier, tmp_path: Path) -> None:
    torch.save(
        {"format": 1, "arch": "mlp-64-128-64-10", "accuracy": 0.99, "state_dict": {"x": torch.ones(1)}},
        tmp_path / CLASSIFIER_FILENAME,
    )
    assert load_digits_classifier(tmp_path).trained_now


# ----------------------------------------------------------------------------- metrics


def test_real_digits_score_well(clf: DigitsClassifier, real: torch.Tensor) -> None:
    m = digits_metrics(real, real, classifier=clf)
    assert set(m) >= {"modes", "hq", "kl", "fd"}
    assert all(isinstance(v, float) for v in m.values())
    assert m["modes"] == 10
    assert m["hq"] >= 90.0
    assert m["kl"] < 0.05
    assert m["fd"] == pytest.approx(0.0, abs=1e-6)


def test_disjoint_real_halves_have_small_fd(clf: DigitsClassifier, real: torch.Tensor) -> None:
    perm = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    m = digits_metrics(real[perm[:900]], real[perm[900:]], classifier=clf)
    assert m["modes"] == 10
    assert m["fd"] < 20.0


def test_collapsed_sample_scores_one_mode_and_max_kl(
    clf: DigitsClassifier, real: torch.Tensor, labels: torch.Tensor
) -> None:
    threes = real[labels == 3]
    m = digits_metrics(threes, real, classifier=clf)
    assert m["modes"] == 1
    assert m["kl"] > 2.0  # log(10) = 2.303 is total collapse
    assert m["kl"] <= math.log(10) + 1e-9
    assert m["fd"] > 100.0


def test_noise_scores_low_quality_and_large_fd(clf: DigitsClassifier, real: torch.Tensor) -> None:
    noise = torch.rand(1000, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    m = digits_metrics(noise, real, classifier=clf)
    perm = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    halves = digits_metrics(real[perm[:900]], real[perm[900:]], classifier=clf)
    assert m["hq"] < 30.0
    assert m["fd"] > 10 * halves["fd"]
    assert m["fd"] > 100.0


def test_mode_threshold_rule(clf: DigitsClassifier, confident_by_class: list[torch.Tensor]) -> None:
    # 9 classes x 100 + 5 of class 9: N = 905, threshold = round(9.05) = 9 -> class 9 not covered.
    base = torch.cat([confident_by_class[k][:100] for k in range(9)])
    assert len(base) == 900
    sparse = torch.cat([base, confident_by_class[9][:5]])
    assert digits_metrics(sparse, sparse, classifier=clf)["modes"] == 9
    # 15 of class 9: N = 915, threshold = 9 -> covered.
    enough = torch.cat([base, confident_by_class[9][:15]])
    assert digits_metrics(enough, enough, classifier=clf)["modes"] == 10


def test_balanced_hq_sample_has_zero_kl(
    clf: DigitsClassifier, confident_by_class: list[torch.Tensor]
) -> None:
    balanced = torch.cat([c[:100] for c in confident_by_class])
    m = digits_metrics(balanced, balanced, classifier=clf)
    assert m["hq"] == 100.0
    assert m["kl"] == pytest.approx(0.0, abs=1e-6)


def test_no_hq_samples_reports_worst_kl(clf: DigitsClassifier, real: torch.Tensor) -> None:
    blank = torch.full((20, 1, 8, 8), -1.0) + 0.01 * torch.rand(
        20, 1, 8, 8, generator=torch.Generator().manual_seed(2)
    )
    m = digits_metrics(blank, real, classifier=clf)
    assert m["hq"] == 0.0 and m["modes"] == 0
    assert m["kl"] == pytest.approx(math.log(10))


def test_upsampled_inputs(clf: DigitsClassifier) -> None:
    for res in (16, 32):
        up = digits_real_images(res)
        m = digits_metrics(up, up, classifier=clf)
        assert m["modes"] == 10
        assert m["hq"] >= 85.0
        assert m["fd"] == pytest.approx(0.0, abs=1e-6)
    # Mixed resolutions are accepted (both sides are pooled to 8x8).
    m = digits_metrics(digits_real_images(16), digits_real_images(8), classifier=clf)
    assert m["modes"] == 10


def test_default_classifier_uses_cache_dir(
    clf: DigitsClassifier, real: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(clf.path, tmp_path / CLASSIFIER_FILENAME)
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    assert digits_metrics(real, real) == digits_metrics(real, real, classifier=clf)


@pytest.mark.parametrize(
    ("fake", "kwargs", "message"),
    [
        (torch.zeros(10, 3, 8, 8), {}, r"\[N, 1, H, W\]"),
        (torch.zeros(10, 8, 8), {}, r"\[N, 1, H, W\]"),
        (torch.zeros(10, 1, 4, 4), {}, "H, W >= 8"),
        (torch.zeros(1, 1, 8, 8), {}, "at least 2 samples"),
        (torch.zeros(10, 1, 8, 8), {"confidence": 1.5}, r"confidence must be a number in \(0, 1\]; got 1.5"),
        (torch.zeros(10, 1, 8, 8), {"confidence": 0}, "confidence must be"),
    ],
)
def test_bad_inputs_raise_value_error(
    clf: DigitsClassifier, real: torch.Tensor, fake: torch.Tensor, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        digits_metrics(fake, real, classifier=clf, **kwargs)
