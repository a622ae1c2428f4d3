"""A points file's metrics, whose modes nobody told ganstab: k-NN precision, recall, density and
coverage (neighbours.py), its modes found by clustering the real data (regions.py), and the
score they make (modes covered / modes found x HQ fraction), which must see a dropped mode."""

from __future__ import annotations

import math

import pytest
import torch

from ganstab.engine.data import Stored
from ganstab.engine.metrics import Evaluator, score
from ganstab.engine.metrics.neighbours import RealBalls, prdc
from ganstab.engine.metrics.regions import _kmeans, _silhouette

ANGLES = torch.arange(6) * 2 * math.pi / 6
HEXAGON = 2 * torch.stack([ANGLES.cos(), ANGLES.sin()], dim=1)


def draw(n: int, gen: torch.Generator, modes=range(6), std: float = 0.05) -> torch.Tensor:
    pick = torch.tensor(list(modes))[torch.randint(len(modes), (n,), generator=gen)]
    return HEXAGON[pick] + std * torch.randn(n, 2, generator=gen)


@pytest.fixture(scope="module")
def hexagon_file_order() -> torch.Tensor:
    """6 Gaussians written mode by mode, as a user's file often is: its first rows are one mode."""
    gen = torch.Generator().manual_seed(0)
    return torch.cat([HEXAGON[i] + 0.05 * torch.randn(1000, 2, generator=gen) for i in range(6)])


@pytest.fixture(scope="module")
def evaluator(hexagon_file_order) -> Evaluator:
    return Evaluator(Stored(hexagon_file_order, "points", "points"))


def test_same_distribution_scores_near_one_and_a_dropped_mode_costs_its_share():
    gen = torch.Generator().manual_seed(1)
    balls = RealBalls(draw(2000, gen))
    same = prdc(draw(2000, gen), balls)
    dropped = prdc(draw(2000, gen, modes=range(5)), balls)
    assert same["precision"] > 0.97 and same["recall"] > 0.97 and 0.93 < same["coverage"] < 1.0
    assert 0.9 < same["density"] < 1.1
    for key in ("recall", "coverage"):  # one mode of six: about 1/6 less
        assert dropped[key] == pytest.approx(5 / 6 * same[key], abs=0.04)
    assert dropped["precision"] > 0.97  # what it makes still looks like data


def test_samples_off_the_data_lose_precision_not_recall():
    gen = torch.Generator().manual_seed(2)
    balls = RealBalls(draw(2000, gen))
    wide = prdc(draw(2000, gen, std=0.2), balls)
    assert wide["precision"] < 0.5 and wide["recall"] > 0.97 and wide["density"] < 0.5


def test_columns_are_standardized_so_units_do_not_matter():
    gen = torch.Generator().manual_seed(3)
    real, fake = draw(1000, gen), draw(1000, gen, modes=range(4))
    scale = torch.tensor([1000.0, 0.01])
    assert prdc(fake * scale, RealBalls(real * scale)) == pytest.approx(prdc(fake, RealBalls(real)), abs=1e-3)


def test_samples_that_are_not_finite_give_nan():
    gen = torch.Generator().manual_seed(4)
    fake = draw(100, gen)
    fake[3, 0] = math.nan
    assert all(math.isnan(v) for v in prdc(fake, RealBalls(draw(100, gen))).values())


def test_too_few_real_samples_is_an_error():
    with pytest.raises(ValueError, match="more than k=5 real samples, but got 4"):
        RealBalls(torch.zeros(4, 2))


def test_the_clustering_finds_the_hexagons_six_modes(evaluator):
    assert evaluator.n_modes == 6
    centres = evaluator._modes.centres * evaluator._balls.std + evaluator._balls.mean  # unstandardized
    nearest = torch.cdist(HEXAGON, centres).min(dim=1).values
    assert nearest.max() < 0.05  # each true centre has a found centre on it
    assert evaluator._modes.share == pytest.approx(torch.full((6,), 1 / 6), abs=0.04)


def test_silhouette_is_rousseeuws():
    from sklearn.metrics import silhouette_score

    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(5))
    _, labels = _kmeans(x, 4, torch.Generator().manual_seed(0))
    assert _silhouette(torch.cdist(x, x), labels, 4) == pytest.approx(silhouette_score(x.numpy(), labels.numpy()), abs=1e-5)


def test_data_in_one_piece_still_has_regions_a_collapse_leaves_empty():
    gen = torch.Generator().manual_seed(6)
    blob = torch.randn(2000, 2, generator=gen)
    ev = Evaluator(Stored(blob, "points", "points"))
    assert ev.n_modes >= 2
    whole, half = ev(torch.stack([torch.randn(2000, 2, generator=gen), torch.randn(2000, 2, generator=gen).abs()]))
    assert whole["modes"] == ev.n_modes and half["modes"] < ev.n_modes
    assert ev.score(half) < 0.7 * ev.score(whole)


def test_the_score_sees_a_dropped_mode_and_a_smear_but_stragglers_do_not_cover_a_mode(evaluator):
    gen = torch.Generator().manual_seed(7)
    stragglers = torch.cat([draw(2490, gen, modes=range(5)), draw(10, gen, modes=[5])])  # 10 of ~417
    smear = torch.cat([draw(2000, gen), HEXAGON[torch.randint(6, (500,), generator=gen)] * torch.rand(500, 1, generator=gen)])
    rows = evaluator(torch.stack([draw(2500, gen), draw(2500, gen, modes=range(5)), stragglers, smear]))
    full, dropped, straggling, smeared = rows
    assert [r["modes"] for r in rows] == [6, 5, 5, 6]
    assert set(full) == set(evaluator.columns())
    assert score("points", full, 6) > 0.97
    assert score("points", dropped, 6) == pytest.approx(5 / 6 * score("points", full, 6), abs=0.02)
    assert score("points", smeared, 6) < 0.85  # HQ: the samples between the modes are not data
    assert evaluator.score(full) == score("points", full, 6)


def test_a_file_written_mode_by_mode_is_compared_with_all_its_modes(evaluator, hexagon_file_order):
    """The real samples are a fixed random subset, not the file's first rows (one mode)."""
    real = evaluator.real(2500)
    modes = torch.cdist(real, HEXAGON).argmin(dim=1)
    assert torch.bincount(modes, minlength=6).min() > 300
    assert torch.equal(Evaluator(Stored(hexagon_file_order, "points", "points")).real(2500), real)  # fixed
