# Baseline for Table 1: a plain ResNet-50 trained at one resolution alone, same recipe as the SAN.
# A per-resolution config states only `train_resolution = S`: the train crop (RandomResizedCrop S)
# and the test crop (ResizeEdge to S / 0.875, CenterCrop S) take it from there (docs/configs.md).
_base_ = ['schedules/imagenet_sgd_cosine_120e.py', 'default_runtime.py', 'datasets/test_crop.py']
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(3, ), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
data_preprocessor = dict(num_classes=1000, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='RandomResizedCrop', backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=5, persistent_workers=True,
                        dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(batch_size=32, num_workers=5, persistent_workers=True,
                      dataset=dict(type=dataset_type, data_root=data_root, split='val',
                                   pipeline={{_base_.test_pipeline}}),
                      sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
model_wrapper_cfg = dict(type='MMDistributedDataParallel')
