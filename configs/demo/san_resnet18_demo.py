# The embedded demo: a narrow ResNet-18 SAN trained on the generated dataset
# (`python tools/make_demo_data.py --out data/demo`) on the CPU in minutes.
_base_ = ['../_base_/default_runtime.py']
num_classes = 10
data_root = 'data/demo'

model = dict(
    type='SANClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=32, base_channels=32, num_stages=4, out_indices=(3, ),
                  style='pytorch'),
    # The one statement of the training resolutions: everything below takes them from here.
    san=dict(resolutions=[64, 48, 32], exclude=[], meta_hidden=None, init='scratch', mode='proxy'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='SANClsHead', num_classes=num_classes, in_channels=256,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              distill=dict(type='ScaleDistillationLoss', mode='all_pairs', temperature=1.0, loss_weight=1.0),
              topk=(1, 5)))
# The workers make the 64 px view only; the preprocessor makes the smaller ones (antialiased bicubic),
# the fastest mode on the CPU too (figure 9 of benchmarks/results/perf_cpu.md).
data_preprocessor = dict(type='SANDataPreprocessor', num_classes=num_classes, mean=[127.5, 127.5, 127.5],
                         std=[64.0, 64.0, 64.0], to_rgb=True, resize_on_device=True)

train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='MultiResolution', crop_ratio_range=(0.35, 1.0), largest_only=True),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='MultiResolutionTest'),
    dict(type='PackInputs'),
]
test_pipeline = [  # the largest training resolution: ResizeEdge 73 (64 / 0.875), CenterCrop 64
    dict(type='SafeLoadImageFromFile'),
    dict(type='ResizeEdge', edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True,
    dataset=dict(type='CheckedCustomDataset', data_root=data_root, data_prefix='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    dataset=dict(type='CheckedCustomDataset', data_root=data_root, data_prefix='val', pipeline=val_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='ResolutionAccuracy', topk=(1, 5))
test_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    dataset=dict(type='CheckedCustomDataset', data_root=data_root, data_prefix='val', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='Accuracy', topk=(1, 5))

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=5, eta_min=0, by_epoch=True, begin=1, end=6,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=6)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2, save_best='accuracy/top1_mean',
                    rule='greater'))
