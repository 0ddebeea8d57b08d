# A plain ResNet-18 trained at one resolution (the left panel of Table 1), same recipe as the SAN.
# The per-resolution configs set `train_resolution` and rebuild the two pipelines.
_base_ = ['./imagenette_recipe.py']
train_resolution = 64

model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes={{_base_.num_classes}}, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
data_preprocessor = dict(num_classes={{_base_.num_classes}}, mean={{_base_.mean}}, std={{_base_.std}}, to_rgb=True)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
