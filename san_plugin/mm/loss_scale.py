"""A SAN's loss against a single-resolution model's at initialisation: gradient norms per kind of
shared parameter and the top Hessian eigenvalue in the FC weights (``tools/loss_scale.py``).

For each loss form (``'sum'``, the paper's, and ``'mean'``) the SAN's gradient on the shared
parameters (dense, depthwise and 1x1 kernels: the meta learners' ``B``; the FC) is divided by that
of the same network baked at its largest training resolution and trained with that resolution's
CE alone. Gradient descent on a quadratic is stable up to lr = 2 / curvature, so a ratio of r in
either figure asks for a learning rate about r times smaller.
"""
from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.runner import Runner, set_random_seed
from torch.nn import functional as F

from san_plugin.core import LossForm, bake, get_controller
from san_plugin.diagnostics.loss_scale import gradient_norms, kernel_parameter_kinds, named_grads, top_hessian_eigenvalue
from .engine.quiet_init import init_logs_hidden
from .model_from_config import build_from_config
from .resolutions import apply_training_sizes

FORMS = ('sum', 'mean')


def build_initial_model(cfg: Config, seed: int) -> torch.nn.Module:
    """The config's model as training starts: built and initialised (seeded), in train mode."""
    set_random_seed(seed)  # python, numpy (the data transforms) and torch
    model = build_from_config(cfg)
    with init_logs_hidden(cfg.get('log_level', 'INFO')):
        model.init_weights()
    return model.train()


def shared_kinds(model: torch.nn.Module) -> dict[str, str]:
    """Kinds of the parameters every resolution shares: kernels and the FC."""
    kinds = kernel_parameter_kinds(model)
    kinds.update({name: 'fc' for name, _ in model.head.fc.named_parameters(prefix='head.fc')})
    return kinds


def san_losses(model, views, samples, form: str, logits_of=None) -> torch.Tensor:
    """The SAN's training loss in ``form`` (largest view first; teachers detached, as in training)."""
    head = model.head
    head.loss_form = LossForm(form, len(views), head.loss_form.distill_mode)
    total, teachers = 0, []
    for index, view in enumerate(views):
        logits = model(view, mode='tensor') if logits_of is None else logits_of(index)
        losses = head.loss_from_logits(logits, samples, resolution=view.shape[-1], teachers=tuple(teachers))
        teachers.append(logits.detach())
        total = total + sum(losses.values())
    return total


def measure_batch(model, single, data) -> dict:
    """Gradient norms per kind and FC curvature of one batch, per loss form and for the single model."""
    processed = model.data_preprocessor(copy.deepcopy(data), True)
    views, samples = list(processed['inputs']), processed['data_samples']
    kinds, single_kinds = shared_kinds(model), shared_kinds(single)
    out: dict = {'grad': {}, 'curvature': {}}
    for form in FORMS:
        model.zero_grad(set_to_none=True)
        san_losses(model, views, samples, form).backward()
        out['grad'][form] = gradient_norms(named_grads(model), kinds)
    single.zero_grad(set_to_none=True)
    single.head._get_loss(single(views[0], mode='tensor'), samples)['loss'].backward()
    out['grad']['single'] = gradient_norms(named_grads(single), single_kinds)

    with torch.no_grad():
        features = [model.head.pre_logits(model.extract_feat(view)) for view in views]
    weight = model.head.fc.weight.detach().clone().requires_grad_()
    bias = model.head.fc.bias.detach().clone().requires_grad_() if model.head.fc.bias is not None else None
    params = [weight] + ([bias] if bias is not None else [])
    for form in FORMS:
        out['curvature'][form] = top_hessian_eigenvalue(
            lambda: san_losses(model, views, samples, form, lambda i: F.linear(features[i], weight, bias)), params)
    out['curvature']['single'] = top_hessian_eigenvalue(
        lambda: single.head._get_loss(F.linear(features[0], weight, bias), samples)['loss'], params)
    model.zero_grad(set_to_none=True)
    single.zero_grad(set_to_none=True)
    return out


def measure_config(cfg: Config, name: str, batches: int = 2, seed: int = 0) -> dict:
    """Means over ``batches`` training batches of :func:`measure_batch`, with the ratios.

    Args:
        cfg: a SAN config (its model, data preprocessor and training loader are used).
        name: how the config is named in the results.
        batches: training batches averaged over.
        seed: of the model's initialisation and the loader's order.

    Raises:
        ValueError: the config builds a plain model, or its data has fewer batches.
    """
    model = build_initial_model(cfg, seed)
    if not getattr(model, 'is_san', False):
        raise ValueError(f'{name} builds a plain model; loss_scale compares a SAN config with its single-resolution model')
    largest = get_controller(model.backbone).resolutions[0]
    single = copy.deepcopy(model)
    single.backbone = bake(model.backbone, largest)
    single.train()  # mmpretrain backbones' train() returns None: never chain it
    cfg = copy.deepcopy(cfg)
    apply_training_sizes(cfg)  # the pipelines' sizes from the config's one statement, as SANRunner does
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
    runs = []
    for data, _ in zip(loader, range(batches)):
        runs.append(measure_batch(model, single, data))
    if len(runs) < batches:
        raise ValueError(f'{name}: its training data has {len(runs)} batches, fewer than --batches {batches}')
    result: dict = dict(config=name, resolutions=list(get_controller(model.backbone).resolutions),
                        config_loss_form=cfg.model.head.get('loss_form', 'sum'), batches=batches, seed=seed,
                        grad={}, curvature={}, grad_ratio={}, curvature_ratio={})
    for who in (*FORMS, 'single'):
        kinds = sorted(set.intersection(*(set(r['grad'][who]) for r in runs)))
        result['grad'][who] = {k: statistics.mean(r['grad'][who][k] for r in runs) for k in kinds}
        result['curvature'][who] = statistics.mean(r['curvature'][who] for r in runs)
    for form in FORMS:
        result['grad_ratio'][form] = {k: v / result['grad']['single'][k] for k, v in result['grad'][form].items()
                                      if result['grad']['single'].get(k)}
        result['curvature_ratio'][form] = result['curvature'][form] / result['curvature']['single']
    return result


def as_markdown(results: list[dict]) -> str:
    kinds = [k for k in ('dense', 'depthwise', '1x1', 'fc') if any(k in r['grad_ratio']['sum'] for r in results)]
    lines = ['| config | loss form | ' + ' | '.join(f'grad {k} SAN / single' for k in kinds)
             + ' | FC curvature SAN | FC curvature single | curvature ratio |',
             '|---|---|' + '---|' * (len(kinds) + 3)]
    for r in results:
        for form in FORMS:
            ratios = r['grad_ratio'][form]
            lines.append(f"| {r['config']} | {form}{' (the paper)' if form == 'sum' else ''} | "
                         + ' | '.join(f'{ratios[k]:.2f}' if k in ratios else '-' for k in kinds)
                         + f" | {r['curvature'][form]:.1f} | {r['curvature']['single']:.1f} | "
                           f"{r['curvature_ratio'][form]:.2f} |")
    return '\n'.join(lines) + '\n'


def write_results(results: list[dict], out: str | None, header: str = '') -> str:
    """Prints ``header`` and the markdown table; with ``out``, writes them and the json beside them."""
    markdown = header + as_markdown(results)
    print(markdown)
    if out:
        prefix = Path(out)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        prefix.with_suffix('.md').write_text(markdown)
        prefix.with_suffix('.json').write_text(json.dumps(results, indent=2))
        print('written:', prefix.with_suffix('.md'), prefix.with_suffix('.json'))
    return markdown
