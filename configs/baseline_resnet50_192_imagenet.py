# Baseline for Table 1: a plain ResNet-50 trained at 192 px alone, same recipe as the SAN.
_base_ = ['baseline_resnet50_224_imagenet.py']
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SafeLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=192, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(type='SafeLoadImageFromFile'),
    dict(type='ResizeEdge', scale=219, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=192),
    dict(type='PackInputs'),
]))
test_dataloader = val_dataloader
