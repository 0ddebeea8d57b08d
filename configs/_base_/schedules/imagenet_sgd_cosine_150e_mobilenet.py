# The paper's MobileNetV2 recipe: lr 0.05, wd 4e-5, 150 epochs, otherwise as ResNet.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=4e-5, nesterov=False))
param_scheduler = dict(type='CosineAnnealingLR', T_max=150, eta_min=0, by_epoch=True, begin=0, end=150,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
