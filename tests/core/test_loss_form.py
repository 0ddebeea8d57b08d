"""LossForm: the factors of the paper's summed loss and of the normalised ('mean') form."""
from __future__ import annotations

import pytest
import torch

from san_plugin.core import LossForm, distillation_pairs, scale_distillation_loss


def test_sum_is_the_papers_loss_and_mean_averages_ce_and_pairs():
    assert (LossForm('sum', 5).ce_factor, LossForm('sum', 5).pair_factor) == (1.0, 1.0)
    assert LossForm('mean', 5).ce_factor == pytest.approx(1 / 5)
    assert LossForm('mean', 5).pair_factor == pytest.approx(1 / 10)
    assert LossForm('mean', 5, 'largest').pair_factor == pytest.approx(1 / 4)
    assert LossForm('mean', 1).pair_factor == 1.0  # no pair: nothing to divide
    assert [distillation_pairs(k) for k in (1, 2, 3, 5)] == [0, 1, 3, 10]


def test_bad_form_k_and_mode_are_refused_by_name():
    with pytest.raises(ValueError, match="'median'"):
        LossForm('median', 5)
    with pytest.raises(ValueError, match='k=0'):
        LossForm('sum', 0)
    with pytest.raises(ValueError, match="'nearest'"):
        distillation_pairs(3, 'nearest')
    with pytest.raises(ValueError, match="'max'"):
        scale_distillation_loss([torch.randn(2, 3)] * 2, reduction='max')


@pytest.mark.parametrize('mode,pairs', [('all_pairs', 6), ('largest', 3)])
def test_mean_distillation_is_the_sum_over_the_pairs(mode, pairs):
    torch.manual_seed(0)
    logits = [torch.randn(4, 7) for _ in range(4)]
    total = scale_distillation_loss(logits, mode)
    assert total > 0
    assert torch.allclose(scale_distillation_loss(logits, mode, reduction='mean'), total / pairs)
