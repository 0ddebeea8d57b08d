# Issue 24, a cheap cure of the summed loss's instability: the MobileNetV2 SAN with a 5-epoch linear
# warm-up instead of 1 (the divergence at lr 0.1 came within the first epoch's warm-up).
# (benchmarks/imagenette/run.py reads warmup_epochs and rebuilds the schedule for its --epochs.)
_base_ = ['./san_mobilenetv2_imagenette.py']
warmup_epochs = 5
max_epochs = 10  # the recipe's (train_cfg)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=0, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, convert_to_iter_based=True),
]
