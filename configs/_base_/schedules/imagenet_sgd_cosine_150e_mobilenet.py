# The paper's MobileNetV2 recipe: lr 0.05, wd 4e-5, 150 epochs, otherwise as ResNet.
_base_ = ['./imagenet_sgd_cosine_120e.py']
optim_wrapper = dict(optimizer=dict(lr=0.05, weight_decay=4e-5))
param_scheduler = dict(T_max=150, end=150)
train_cfg = dict(max_epochs=150)
