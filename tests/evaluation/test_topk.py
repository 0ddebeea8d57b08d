"""The sweeps' accuracy loop (``san_plugin.evaluation.topk``), toolbox-free, on hand-made scores."""
import pytest
import torch

from san_plugin.evaluation.topk import topk_percentages

# two batches of 2 images, 6 classes; entry 0 ranks the label first, entry 1 sixth (top-1 and top-5 miss)
LABELS = [torch.tensor([0, 1]), torch.tensor([2, 3])]


def scores_of(labels: torch.Tensor, rank: int) -> torch.Tensor:
    """Scores (N, 6) that put each label at ``rank`` (0: the highest)."""
    scores = torch.zeros(labels.numel(), 6)
    for row, label in enumerate(labels.tolist()):
        order = [c for c in range(6) if c != label]
        order.insert(rank, label)
        scores[row, order] = torch.arange(6, 0, -1, dtype=torch.float32)
    return scores


def test_every_entry_is_counted_over_every_batch_then_reduced_once():
    seen, reduced, after = [], [], []

    def score_batch(labels):
        seen.append(torch.is_grad_enabled())
        yield scores_of(labels, 0), labels
        yield scores_of(labels, 5), labels

    def reduce(counts):
        reduced.append(counts.clone())
        counts *= 2  # what a sum over two identical processes does: percentages unchanged

    result = topk_percentages(LABELS, score_batch, 2, reduce=reduce, after_batch=lambda: after.append(1))
    assert result == [(100.0, 100.0), (0.0, 0.0)]
    assert len(reduced) == 1 and reduced[0].tolist() == [[4.0, 4.0, 4.0], [0.0, 0.0, 4.0]]
    assert seen == [False, False] and len(after) == 2


def test_top5_counts_a_label_ranked_fifth_and_top1_does_not():
    [(top1, top5)] = topk_percentages(LABELS, lambda labels: [(scores_of(labels, 4), labels)], 1)
    assert (top1, top5) == pytest.approx((0.0, 100.0))
