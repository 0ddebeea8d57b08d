# A plain ResNet-18 trained at one resolution (the left panel of Table 1), same recipe as the SAN.
# A per-resolution config states only `train_resolution = S`: the train crop (RandomResizedCrop S)
# and the test crop (ResizeEdge to S / 0.875, CenterCrop S) take it from there (docs/configs.md).
_base_ = ['./imagenette_recipe.py', '../../_base_/datasets/test_crop.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes={{_base_.num_classes}}, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
data_preprocessor = dict(num_classes={{_base_.num_classes}}, mean={{_base_.mean}}, std={{_base_.std}}, to_rgb=True)
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='RandomResizedCrop', crop_ratio_range={{_base_.crop_ratio_range}}, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
