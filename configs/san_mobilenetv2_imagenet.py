# SAN MobileNetV2 on ImageNet, the paper's recipe: lr 0.05, wd 4e-5, 150 epochs, batch 256.
_base_ = [
    '_base_/models/san_mobilenetv2.py', '_base_/datasets/imagenet_san.py',
    '_base_/schedules/imagenet_sgd_cosine_150e_mobilenet.py', '_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1_mean', rule='greater'))
