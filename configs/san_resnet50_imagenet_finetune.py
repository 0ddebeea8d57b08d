# A SAN ResNet-50 from a trained single-resolution ResNet-50 (issue 15): MMPretrain's
# resnet50_8xb32_in1k (76.55 % top-1 at 224 px) is loaded strictly into the plain backbone and
# head, converted with init='pretrained' (meta learners W = 0 and B = the trained kernel, every
# BN branch a copy of the trained BN: at the start the SAN gives the trained model's outputs at
# every resolution) and trained as a SAN at 224/192/160/128/96.
# Schedule: 40 epochs (a third of the from-scratch recipe's 120), lr 0.01 for batch 256 (a tenth of
# the from-scratch peak: the weights are trained already), cosine to 0, no warm-up (the converted
# model starts where the plain one ended). The same proportions on Imagenette (5 of 15 epochs, lr a
# tenth of the best from-scratch rate) came 0.8-2.5 points short of the from-scratch SAN at the
# training sizes and level with or above the individually trained baselines
# (benchmarks/results/imagenette_resnet18_finetune.md). Not run on ImageNet here (no GPU).
# Another trained model: --cfg-options pretrained_checkpoint=... would not reach the settings that use the
# variable (it is refused), so set model.backbone.init_cfg.checkpoint=PATH model.head.init_cfg.checkpoint=PATH
_base_ = ['./san_resnet50_imagenet.py']
pretrained_checkpoint = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
                         'resnet50_8xb32_in1k_20210831-ea4938fc.pth')
max_epochs = 40
model = dict(
    # Building reads no file: the SAN is converted from the freshly built backbone and the checkpoint
    # loads in init_weights() (training only; tools/test.py loads the trained SAN and needs no other file),
    # mapped onto the converted layers, every key and shape checked. zero_init_residual=False: mmpretrain's
    # ResNet zeroes the last BN gamma of every block after a 'StrictPretrained' load when built plain (san=None)
    backbone=dict(zero_init_residual=False,
                  init_cfg=dict(type='StrictPretrained', checkpoint=pretrained_checkpoint, prefix='backbone.')),
    san=dict(init='pretrained'),
    head=dict(init_cfg=dict(type='StrictPretrained', checkpoint=pretrained_checkpoint, prefix='head.')))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = dict(_delete_=True, type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True, begin=0,
                       end=max_epochs, convert_to_iter_based=True)
train_cfg = dict(max_epochs=max_epochs)
