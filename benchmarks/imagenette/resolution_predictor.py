"""Issue 27's optional comparison: a tiny learned resolution predictor on the frozen SAN.

DRNet-style in spirit, small in size: every image first runs at the smallest size (as in the
cascade); a logistic regression on that pass's pooled features and sorted softmax predicts, for
every size, the probability that the SAN is right there; the image then runs at the one size that
maximises ``P(right) - lambda * GFLOPs`` (no climbing through the sizes in between). Trained on
the frozen SAN's correctness, cross-fitted over halves of the validation set exactly as the
cascade's thresholds are (fit on one half, score the other), ``lambda`` chosen on the fit half for
each budget. Each image is charged the smallest size's GFLOPs plus its chosen size's (the
predictor's own cost, a 256 x 5 product, is left out: under 1e-5 GFLOPs).
"""
from __future__ import annotations

import statistics
from typing import Sequence

import torch


def predictor_inputs(features: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """The predictor's input: pooled features, sorted softmax and its log (``(N, F + 2C)``)."""
    ordered = probs.sort(dim=1, descending=True).values
    return torch.cat([features, ordered, ordered.clamp_min(1e-8).log()], dim=1)


def fit_predictor(x: torch.Tensor, correct: torch.Tensor, *, steps: int = 300, weight_decay: float = 1e-2,
                  seed: int = 0):
    """Logistic regression (one output per size) of the SAN's correctness, standardised inputs.

    Returns a function ``x -> (N, K)`` probabilities of being right at each size.
    """
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    linear = torch.nn.Linear(z.size(1), correct.size(1))
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.05, weight_decay=weight_decay)
    target = correct.float()
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(linear(z), target).backward()
        optimizer.step()
    linear.requires_grad_(False)
    return lambda inputs: torch.sigmoid(linear((inputs - mean) / std))


def choose(p_right: torch.Tensor, costs: torch.Tensor, lam: float) -> torch.Tensor:
    """The size index maximising ``P(right) - lam * cost`` per image."""
    return (p_right - lam * costs[None, :]).argmax(dim=1)


def policy_costs(sizes: Sequence[int], gflops: dict[int, float]) -> torch.Tensor:
    """GFLOPs of choosing each size: the smallest size's pass, plus the chosen size's when larger."""
    first = gflops[sizes[0]]
    return torch.tensor([first] + [first + gflops[s] for s in sizes[1:]], dtype=torch.float64)


def crossfit_predictor(x: torch.Tensor, correct: torch.Tensor, sizes: Sequence[int], gflops: dict[int, float],
                       budgets: Sequence[float], splits: int, lambdas: int = 400) -> list[dict]:
    """Per budget: cross-fitted top-1 and mean GFLOPs (mean and range over the halvings) and the
    images sent to each size."""
    from san_plugin.cascade.cross_fitting import split_parts
    costs = policy_costs(sizes, gflops)
    grid = torch.linspace(0, 1.0 / float(costs.min()), lambdas).tolist()
    per_budget: list[list[tuple[float, float, list[int]]]] = [[] for _ in budgets]
    n = correct.size(0)
    for seed in range(splits):
        hits = [0] * len(budgets)
        spent = [0.0] * len(budgets)
        counts = [[0] * len(sizes) for _ in budgets]
        for part in split_parts(n, 2, seed):
            fit = torch.ones(n, dtype=torch.bool)
            fit[part] = False
            predict = fit_predictor(x[fit], correct[fit], seed=seed)
            p_fit, p_held = predict(x[fit]).double(), predict(x[part]).double()
            options = []
            for lam in grid:
                chosen = choose(p_fit, costs, lam)
                options.append((float(costs[chosen].mean()), float(correct[fit][torch.arange(int(fit.sum())),
                                                                                  chosen].double().mean()), lam))
            for index, budget in enumerate(budgets):
                within = [o for o in options if o[0] <= budget * (1 + 1e-9)]
                if not within:
                    continue
                _, _, lam = max(within, key=lambda o: (o[1], -o[0]))
                chosen = choose(p_held, costs, lam)
                hits[index] += int(correct[part][torch.arange(part.numel()), chosen].sum())
                spent[index] += float(costs[chosen].sum())
                for k, c in enumerate(torch.bincount(chosen, minlength=len(sizes)).tolist()):
                    counts[index][k] += c
        for index in range(len(budgets)):
            if sum(counts[index]) == n:
                per_budget[index].append((100.0 * hits[index] / n, spent[index] / n, counts[index]))
    rows = []
    for budget, results in zip(budgets, per_budget):
        row = {'budget': budget, 'splits': len(results)}
        if results:
            tops, used = [r[0] for r in results], [r[1] for r in results]
            row.update(top1=statistics.fmean(tops), top1_min=min(tops), top1_max=max(tops),
                       mean_gflops=statistics.fmean(used), gflops_min=min(used), gflops_max=max(used),
                       counts={s: statistics.fmean(r[2][k] for r in results) for k, s in enumerate(sizes)})
        rows.append(row)
    return rows
