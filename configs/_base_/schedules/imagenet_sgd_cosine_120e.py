# The paper's ResNet recipe: SGD momentum 0.9, wd 1e-4, lr 0.1 for batch 256,
# half-cosine to zero updated every iteration, 120 epochs.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False))
param_scheduler = dict(type='CosineAnnealingLR', T_max=120, eta_min=0, by_epoch=True, begin=0, end=120,
                       convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
