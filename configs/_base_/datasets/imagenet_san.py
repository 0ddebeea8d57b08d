# ImageNet for SANs: one crop per image resized to every training resolution, and a
# validation pass that reports every training resolution. 8 GPUs x 32 = batch 256.
# No size is written here: the data preprocessor, MultiResolution, MultiResolutionTest and the
# single-size test crop (ResizeEdge to S / 0.875, CenterCrop S for the largest S) take the training
# resolutions from the model's `san.resolutions` (docs/configs.md).
_base_ = ['./test_crop.py']  # the single-size test crop, at the largest training resolution (224: 256 / 224)
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
# Training views: the workers decode and crop once and make the largest view only; the preprocessor
# makes the smaller views on the device (antialiased bicubic, from the largest view). The loader then
# runs as fast as a single-view RandomResizedCrop loader (figure 9 of benchmarks/results/perf_cpu.md).
# The paper's code resizes every view from the crop (PIL bilinear, independent flips); the closest
# here: MultiResolution() without largest_only, and no resize_on_device (0.43x the loader speed).
data_preprocessor = dict(type='SANDataPreprocessor', num_classes=1000, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True, resize_on_device=True, non_blocking=True)
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='MultiResolution', largest_only=True),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='MultiResolutionTest'),
    dict(type='PackInputs'),
]
# default_collate stacks each view in the workers; pinned memory makes the copy to the GPU asynchronous
# (tools/train.py sets both anyway; this makes MMPretrain's own tools do the same).
train_dataloader = dict(
    batch_size=32, num_workers=5, persistent_workers=True, pin_memory=True, collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=32, num_workers=5, persistent_workers=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=val_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='ResolutionAccuracy', topk=(1, 5))
test_dataloader = dict(
    batch_size=32, num_workers=5, persistent_workers=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline={{_base_.test_pipeline}}),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='Accuracy', topk=(1, 5))
