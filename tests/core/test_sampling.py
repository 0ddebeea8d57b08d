"""ResolutionSampling: which resolutions a training step runs, drawn from (seed, iteration) only."""
from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from san_plugin.core.sampling import ResolutionSampling

SIZES = (64, 56, 48, 40, 32)


def test_all_runs_every_resolution_whatever_the_iteration():
    assert ResolutionSampling().draw(SIZES, 0) == SIZES
    assert ResolutionSampling('all').draw(SIZES, 12345) == SIZES
    assert ResolutionSampling().relative_cost(SIZES) == 1.0


@pytest.mark.parametrize('num_random', [0, 1, 2, 3])
def test_sandwich_runs_the_largest_the_smallest_and_n_distinct_others_largest_first(num_random):
    sampling = ResolutionSampling('sandwich', num_random=num_random)
    for iteration in range(50):
        drawn = sampling.draw(SIZES, iteration)
        assert drawn[0] == 64 and drawn[-1] == 32 and len(drawn) == num_random + 2
        assert list(drawn) == sorted(set(drawn), reverse=True)
        assert set(drawn) <= set(SIZES)
    if num_random == 3:
        assert sampling.draw(SIZES, 7) == SIZES


def test_the_draw_depends_on_seed_and_iteration_only_and_touches_no_random_stream():
    sampling = ResolutionSampling('sandwich', num_random=1, seed=3)
    torch_state, python_state = torch.get_rng_state(), random.getstate()
    first = [sampling.draw(SIZES, i) for i in range(40)]
    assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == python_state
    torch.manual_seed(99)
    random.seed(99)
    assert [ResolutionSampling('sandwich', num_random=1, seed=3).draw(SIZES, i) for i in range(40)] == first
    assert len(set(first)) > 1  # the middle resolution changes with the iteration
    other_seed = [ResolutionSampling('sandwich', num_random=1, seed=4).draw(SIZES, i) for i in range(40)]
    assert other_seed != first
    # a resumed run (iterations 20..39) draws what the uninterrupted one drew
    assert [sampling.draw(SIZES, i) for i in range(20, 40)] == first[20:]


def test_each_middle_resolution_is_drawn_about_equally_often():
    sampling = ResolutionSampling('sandwich', num_random=1)
    counts = Counter(sampling.draw(SIZES, i)[1] for i in range(3000))
    assert set(counts) == {56, 48, 40}
    assert all(900 < c < 1100 for c in counts.values()), counts


def test_relative_cost_is_the_expected_share_of_pixels():
    total = sum(s * s for s in SIZES)
    middle = (56 ** 2 + 48 ** 2 + 40 ** 2) / 3
    assert ResolutionSampling('sandwich', 1).relative_cost(SIZES) == pytest.approx((64 ** 2 + 32 ** 2 + middle) / total)
    assert ResolutionSampling('sandwich', 2).relative_cost(SIZES) == pytest.approx(
        (64 ** 2 + 32 ** 2 + 2 * middle) / total)
    assert ResolutionSampling('sandwich', 3).relative_cost(SIZES) == pytest.approx(1.0)


def test_two_resolutions_or_fewer_run_all():
    assert ResolutionSampling('sandwich', 0).draw((64, 32), 5) == (64, 32)
    assert ResolutionSampling('sandwich', 0).draw((64,), 5) == (64,)


def test_bad_settings_are_refused_naming_the_value():
    with pytest.raises(ValueError, match="one of \\('all', 'sandwich'\\), got 'random'"):
        ResolutionSampling('random')
    with pytest.raises(ValueError, match='num_random must be >= 0, got -1'):
        ResolutionSampling('sandwich', -1)
    with pytest.raises(ValueError, match='num_random must be an integer'):
        ResolutionSampling('sandwich', 1.5)
    with pytest.raises(ValueError, match="belongs to type='sandwich'"):
        ResolutionSampling('all', 2)
    with pytest.raises(ValueError, match='have only 3 between the largest and the smallest'):
        ResolutionSampling('sandwich', 4).check(SIZES)
    with pytest.raises(ValueError, match=r"unknown sampling option\(s\) \['n'\]"):
        ResolutionSampling.from_config(dict(type='sandwich', n=1))
    with pytest.raises(ValueError, match='sampling must be dict'):
        ResolutionSampling.from_config('sandwich')


def test_config_form_round_trips():
    sampling = ResolutionSampling.from_config(dict(type='sandwich', num_random=2, seed=7))
    assert ResolutionSampling.from_config(sampling.to_dict()) == sampling
    assert ResolutionSampling.from_config(None) == ResolutionSampling()
