# The recipe shared by every Imagenette model of issue 7 (Table 1 on the CPU): ResNet-18 with the
# standard ImageNet stem, SGD momentum 0.9, the paper's per-sample lr (0.1 at batch 256 = 0.025 at
# batch 64) and weight decay (1e-4), one epoch of linear warm-up
# then a half cosine to zero (both per iteration), validation and the checkpoint at the end only.
# `data_root` is the public Imagenette download's layout (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG);
# override it with `--cfg-options train_dataloader.dataset.data_root=... val_dataloader...`.
_base_ = ['../../_base_/default_runtime.py']

data_root = 'data/imagenette'
num_classes = 10
max_epochs = 10
batch_size = 64
crop_ratio_range = (0.35, 1.0)  # RandomResizedCrop's area range, the same for the SAN and the baselines
mean = [123.675, 116.28, 103.53]
std = [58.395, 57.12, 57.375]

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.025, momentum=0.9, weight_decay=1e-4, nesterov=False))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=0, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)

train_dataloader = dict(
    batch_size=batch_size, num_workers=2, persistent_workers=True,
    dataset=dict(type='CheckedCustomDataset', data_root=data_root, data_prefix='train'),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=100, num_workers=2, persistent_workers=True,
    dataset=dict(type='CheckedCustomDataset', data_root=data_root, data_prefix='val'),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1, save_last=True, save_best=None))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
# Single-process CPU runs: no DDP wrapper is built, this only matters with --launcher pytorch.
