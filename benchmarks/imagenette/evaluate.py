"""Top-1 of one checkpoint on the validation set at every test resolution.

Each validation image is decoded once and cropped at every test resolution (the standard test
crop: resize the short side to T / 0.875 with antialiased pillow bicubic, center crop T). A plain
model gives one row; a SAN gives one row per BN branch/encoding (``rows='full'``: every training
resolution on every batch) or only the proxy row (``rows='proxy'``: each test resolution with its
nearest training resolution's branch). Proxy cells are those whose row is S(T).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def _collate(samples: list[dict]) -> tuple[list[torch.Tensor], torch.Tensor]:
    views = [torch.from_numpy(np.stack([s['img'][i] for s in samples])) for i in range(len(samples[0]['img']))]
    labels = torch.tensor([int(np.asarray(s['gt_label']).reshape(-1)[0]) for s in samples])
    return views, labels


def build_model(cfg, checkpoint: str) -> torch.nn.Module:
    """The config's model with the checkpoint's weights (the plugin's safe loader), in eval mode."""
    import san_plugin.mm  # noqa: F401  (registers the plugin, safe checkpoint loading)
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    return model.eval()


@torch.no_grad()  # not inference_mode: MetaConv2d caches kernels by parameter version
def evaluate_checkpoint(cfg, checkpoint: str, test_resolutions: Sequence[int], *, rows: str = 'full',
                        batch_size: int = 100, num_workers: int = 2) -> dict:
    """``{'rows': {row: {T: top1}}, 'proxy': {T: row}, 'train_resolutions': [...], 'num_images': n}``.

    ``row`` is the SAN branch's training resolution, or ``'baseline'`` for a plain model.
    """
    import san_plugin.mm  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    from san_plugin.core import nearest_resolution, san_resolution

    model = build_model(cfg, checkpoint)
    san = cfg.model.type == 'SANClassifier' and cfg.model.get('san') is not None
    train_resolutions = sorted(cfg.model.san.resolutions, reverse=True) if san else []
    test_resolutions = sorted({int(t) for t in test_resolutions}, reverse=True)
    proxy = {t: nearest_resolution(t, train_resolutions) for t in test_resolutions} if san else {}
    if not san:
        row_sets = {t: ['baseline'] for t in test_resolutions}
    elif rows == 'full':
        row_sets = {t: list(train_resolutions) for t in test_resolutions}
    else:
        row_sets = {t: [proxy[t]] for t in test_resolutions}

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset_cfg = cfg.val_dataloader.dataset.copy()
    dataset_cfg.pipeline = [dict(type='LoadImageFromFile'),
                            dict(type='MultiResolutionTest', resolutions=test_resolutions, backend='pillow',
                                 interpolation='bicubic')]
    dataset = DATASETS.build(dataset_cfg)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                         collate_fn=_collate)
    preprocessor = cfg.get('data_preprocessor', {})
    mean = torch.tensor(preprocessor.get('mean', [123.675, 116.28, 103.53])).view(1, 3, 1, 1)
    std = torch.tensor(preprocessor.get('std', [58.395, 57.12, 57.375])).view(1, 3, 1, 1)
    to_rgb = preprocessor.get('to_rgb', True)

    correct = {t: {r: 0 for r in row_sets[t]} for t in test_resolutions}
    total = 0
    for views, labels in loader:
        total += len(labels)
        for t, view in zip(test_resolutions, views):
            x = view.permute(0, 3, 1, 2).float()  # LoadImageFromFile gives BGR, HWC
            if to_rgb:
                x = x.flip(1)
            x = (x - mean) / std
            for row in row_sets[t]:
                if row == 'baseline':
                    logits = model(x, mode='tensor')
                else:
                    with san_resolution(model.backbone, row):
                        logits = model(x, mode='tensor')
                correct[t][row] += int((logits.argmax(1) == labels).sum())
    table: dict[str, dict[str, float]] = {}
    for t in test_resolutions:
        for row, hits in correct[t].items():
            table.setdefault(str(row), {})[str(t)] = 100.0 * hits / max(total, 1)
    return dict(rows=table, proxy={str(t): r for t, r in proxy.items()}, train_resolutions=train_resolutions,
                test_resolutions=test_resolutions, num_images=total, row_mode=rows if san else 'baseline')
