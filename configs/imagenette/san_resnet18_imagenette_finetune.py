# Issue 15: a SAN from a trained model. The 64-px baseline (baseline_resnet18_imagenette_64.py, as
# run.py trains it) is loaded into the plain backbone and head, then converted with init='pretrained'
# (meta learners W = 0, B = the trained kernel; every BN branch a copy of the trained BN), so the SAN
# starts with the baseline's outputs at every resolution, and is trained as a SAN for 5 epochs: a third
# of the from-scratch SAN's 15. run.py passes the checkpoint of its own baseline_64 run; by hand, override
# model.backbone.init_cfg.checkpoint and model.head.init_cfg.checkpoint.
_base_ = ['./_base_/san_resnet18_imagenette.py']
pretrained_checkpoint = 'work_dirs/imagenette/baseline_64/epoch_15.pth'
max_epochs = 5
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
# No warm-up: the model is trained already (W = 0 and the BN copies change nothing at the start).
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0, by_epoch=True, begin=0, end=max_epochs,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
