"""The scale-distillation loss against a hand computation."""
import pytest
import torch

from san_plugin.core import kl_to_teachers, scale_distillation_loss


def hand_kl(teacher, student, temperature):
    """sum_n sum_c p_t (log p_t - log p_s) / N, softened by T and scaled by T^2."""
    n = teacher.shape[0]
    total = 0.0
    for row in range(n):
        log_t = torch.log_softmax(teacher[row].double() / temperature, dim=0)
        log_s = torch.log_softmax(student[row].double() / temperature, dim=0)
        total += float((log_t.exp() * (log_t - log_s)).sum())
    return total / n * temperature ** 2


def hand_loss(logits, mode, temperature):
    pairs = [(i, j) for j in range(len(logits)) for i in range(j)]  # teacher i larger than student j
    if mode == 'largest':
        pairs = [(0, j) for j in range(1, len(logits))]
    return sum(hand_kl(logits[i], logits[j], temperature) for i, j in pairs)


@pytest.mark.parametrize('temperature', [1.0, 2.0, 0.5])
@pytest.mark.parametrize('mode, terms', [('all_pairs', 6), ('largest', 3)])
def test_loss_equals_hand_computation(mode, terms, temperature):
    logits = [torch.randn(5, 7) * 2 for _ in range(4)]
    loss = scale_distillation_loss(logits, mode=mode, temperature=temperature)
    assert loss.shape == ()
    assert float(loss) == pytest.approx(hand_loss(logits, mode, temperature), rel=1e-5)
    assert float(loss) > 0


def test_all_pairs_and_largest_agree_for_two_resolutions():
    logits = [torch.randn(3, 5), torch.randn(3, 5)]
    torch.testing.assert_close(scale_distillation_loss(logits, 'all_pairs'), scale_distillation_loss(logits, 'largest'))


@pytest.mark.parametrize('mode', ['all_pairs', 'largest'])
def test_teachers_are_detached(mode):
    logits = [torch.randn(4, 6, requires_grad=True) for _ in range(3)]
    scale_distillation_loss(logits, mode=mode).backward()
    assert logits[0].grad is None  # the largest resolution only teaches
    # the middle resolution's gradient comes from its own student term only
    middle = logits[1].detach().clone().requires_grad_()
    kl_to_teachers(middle, [logits[0].detach()]).backward()
    torch.testing.assert_close(logits[1].grad, middle.grad)
    assert torch.count_nonzero(logits[2].grad) > 0


def test_single_resolution_gives_zero():
    logits = [torch.randn(4, 6, requires_grad=True)]
    loss = scale_distillation_loss(logits)
    assert loss.shape == () and float(loss) == 0.0


def test_kl_to_teachers():
    student = torch.randn(4, 6)
    assert float(kl_to_teachers(student, [])) == 0.0
    assert float(kl_to_teachers(student, [student.clone()])) == pytest.approx(0.0, abs=1e-6)
    teachers = [torch.randn(4, 6), torch.randn(4, 6)]
    expected = sum(hand_kl(t, student, 3.0) for t in teachers)
    assert float(kl_to_teachers(student, teachers, temperature=3.0)) == pytest.approx(expected, rel=1e-5)


def test_bad_arguments_are_refused():
    logits = [torch.randn(2, 3), torch.randn(2, 3)]
    with pytest.raises(ValueError, match='temperature'):
        scale_distillation_loss(logits, temperature=0.0)
    with pytest.raises(ValueError, match="'pairs'"):
        scale_distillation_loss(logits, mode='pairs')
    with pytest.raises(ValueError, match='at least one'):
        scale_distillation_loss([])
