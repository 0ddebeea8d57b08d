# SAN resnet50 on ImageNet, the paper's recipe (Table 1): resolutions 224/192/160/128/96,
# SGD 0.1, wd 1e-4, cosine, 120 epochs, batch 256 (8 GPUs x 32).
_base_ = [
    '_base_/models/san_resnet50.py', '_base_/datasets/imagenet_san.py',
    '_base_/schedules/imagenet_sgd_cosine_120e.py', '_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1_mean', rule='greater'))
