# Baseline ResNet-18 trained at 56 px alone (Table 1 left panel, row 56); tested at 56: resize to 64, crop 56.
_base_ = ['./_base_/baseline_resnet18_imagenette.py']
train_resolution = 56
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=train_resolution, crop_ratio_range={{_base_.crop_ratio_range}},
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=train_resolution),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
