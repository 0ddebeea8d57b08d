"""Resolution sweeps of MMPretrain checkpoints: the paper's Table 1 for any config.

The evaluation loop: every row (a SAN's BN branch, the SAN as it runs, a baseline) at
every test resolution, decoding each resolution once; multi-resolution testing
(:mod:`san_plugin.mm.tta`); and the cost of the deployed (baked) model per
resolution. Models come from :mod:`san_plugin.mm.model_from_config`; both evaluations run
the one loop of :mod:`san_plugin.mm.eval_loop`.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import torch
from mmengine.config import Config

from san_plugin.core import find_controller, san_resolution, set_mode
from san_plugin.deploy.export import deployed_model
from san_plugin.evaluation import (Cost, SweepResult, SweepRow, TTAEntry, count_flops, count_params,
                                   measure_latency)
from san_plugin.evaluation.sweep_result import PROXY
from .eval_loop import config_topk_percentages
from .eval_pipeline import set_model_resolution
from .model_from_config import build_model, training_resolution
from .transforms import TEST_CROP_RATIO
from .tta import evaluate_tta, view_sizes


def evaluate_rows(model, cfg: Config, test_resolutions: Sequence[int], *, rows: dict[str, int | None],
                  crop_ratio: float = TEST_CROP_RATIO, device: str | torch.device = 'cpu',
                  ideal: bool = False) -> dict[str, dict[int, tuple[float, float]]]:
    """Top-1/top-5 of every row at every test resolution, decoding each resolution once.

    Args:
        rows: label -> the training resolution whose BN branch and encoding the SAN uses
            (``None``: the model as it runs on its input, proxy or ideal).
        ideal: run the ``None`` rows in ideal mode.

    Returns:
        label -> test resolution -> (top1, top5) in percent, all-reduced across processes.
    """
    san = find_controller(model) is not None

    def row_scores(batch: dict) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        data = model.data_preprocessor(batch, False)
        inputs = data['inputs']
        labels = torch.cat([s.gt_label for s in data['data_samples']]).to(inputs.device)
        for bn_resolution in rows.values():
            if bn_resolution is None:
                if san:
                    set_mode(model, 'ideal' if ideal else 'proxy')
                logits = model(inputs, mode='tensor')
            else:
                with san_resolution(model, bn_resolution):
                    logits = model.head(model.extract_feat(inputs), bn_resolution)
            yield logits, labels

    results: dict[str, dict[int, tuple[float, float]]] = {label: {} for label in rows}
    for resolution in test_resolutions:
        at_resolution = (lambda c, r=resolution: set_model_resolution(c, r, crop_ratio))
        scores = config_topk_percentages(cfg, at_resolution, row_scores, len(rows))
        for label, score in zip(rows, scores):
            results[label][resolution] = score
    return results


def resolution_costs(model, resolutions: Iterable[int], *, batch_size: int = 1, device='cpu',
                     repeats: int = 20) -> dict[int, Cost]:
    """GFLOPs, parameters and latency of the deployable model at each resolution.

    A SAN is measured baked for that resolution (plain convolutions, one BN branch),
    which is what a deployment runs.
    """
    costs = {}
    for resolution in resolutions:
        deployed = deployed_model(model, resolution)
        flops = count_flops(deployed, resolution)
        latency = measure_latency(deployed, resolution, batch_size, device=device, repeats=repeats)
        costs[resolution] = Cost(gflops=flops / 1e9, params=count_params(deployed),
                                 latency_ms=latency['median_ms'])
    return costs


def sweep(san: tuple[Config, str] | None, baselines: Sequence[tuple[Config, str]], test_resolutions: Sequence[int],
          *, mode: str = 'proxy', device='cpu', measure_costs: bool = True, batch_size: int = 1,
          crop_ratio: float = TEST_CROP_RATIO, tta: Sequence[Sequence[int]] = ()) -> SweepResult:
    """Evaluates a SAN (full matrix) and/or baselines at every test resolution.

    Args:
        tta: multi-resolution combinations, e.g. ``[(64, 48)]``: every model is also tested
            with its softmax averaged over each combination's sizes (the SAN as it runs:
            proxy, or ideal with ``mode='ideal'``). Their sizes join the test resolutions,
            so each combination sits beside the single-resolution cells of its views, and its
            cost is the sum of theirs.
    """
    test_resolutions = sorted({int(t) for t in test_resolutions} | set(view_sizes(tta)), reverse=True)
    rows: list[SweepRow] = []
    entries: list[TTAEntry] = []
    training: tuple[int, ...] = ()
    costs: dict[int, Cost] = {}
    meta: dict = {'mode': mode, 'crop_ratio': crop_ratio, 'device': str(device)}
    if san is not None:
        cfg, checkpoint = san
        model = build_model(cfg, checkpoint, device)
        controller = find_controller(model)
        if controller is None:
            raise ValueError(f'{checkpoint} is not a SAN checkpoint (its config builds a plain model); '
                             f'pass it as a baseline')
        training = controller.resolutions
        labels = {f'SAN {r}': r for r in training}
        if mode == 'ideal':
            labels['SAN ideal'] = None
        cells = evaluate_rows(model, cfg, test_resolutions, rows=labels, crop_ratio=crop_ratio, device=device,
                              ideal=mode == 'ideal')
        rows += [SweepRow.san(r, cells[f'SAN {r}']) for r in training]
        if mode == 'ideal':
            rows.append(SweepRow.ideal(cells['SAN ideal'],
                                       label=f'SAN ideal (calibrated: {list(controller.calibrated) or "none"})'))
        meta['san_checkpoint'] = checkpoint
        meta['calibrated'] = list(controller.calibrated)
        if measure_costs:
            costs = resolution_costs(model, test_resolutions, batch_size=batch_size, device=device)
        if tta:
            scores = evaluate_tta(model, cfg, tta, crop_ratio=crop_ratio, ideal=mode == 'ideal')
            entries += _entries(rows[-1].label if mode == 'ideal' else PROXY, scores, costs)
    for cfg, checkpoint in baselines:
        model = build_model(cfg, checkpoint, device)
        resolution = training_resolution(cfg)
        cells = evaluate_rows(model, cfg, test_resolutions, rows={'baseline': None}, crop_ratio=crop_ratio,
                              device=device)
        rows.append(SweepRow.baseline(resolution, cells['baseline'], label=f'baseline {resolution}'))
        meta.setdefault('baseline_checkpoints', []).append(checkpoint)
        if measure_costs and not costs:
            costs = resolution_costs(model, test_resolutions, batch_size=batch_size, device=device)
        if tta:
            entries += _entries(rows[-1].label, evaluate_tta(model, cfg, tta, crop_ratio=crop_ratio), costs)
    return SweepResult(training_resolutions=training, rows=rows, costs=costs,
                       test_resolutions=tuple(test_resolutions), title='Accuracy (%) per test resolution', meta=meta,
                       tta=entries)


def _entries(source: str, scores: dict[tuple[int, ...], tuple[float, float]], costs: dict[int, Cost]) -> list[TTAEntry]:
    """Multi-resolution entries of one curve; each costs the sum of its views' costs (unknown without costs)."""
    return [TTAEntry(source, combination, accuracy, Cost.total(costs[s] for s in combination) if costs else Cost())
            for combination, accuracy in scores.items()]
