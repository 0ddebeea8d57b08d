# A plain MobileNetV2 (width 0.5) trained at one resolution, the MobileNetV2 SAN's recipe (issue 24):
# the ResNet-18 baseline with mmpretrain's MobileNetV2 in its place and the paper's weight decay.
_base_ = ['./baseline_resnet18_imagenette.py']
model = dict(backbone=dict(_delete_=True, type='MobileNetV2', widen_factor=0.5), head=dict(in_channels=1280))
optim_wrapper = dict(optimizer=dict(lr=0.0125, weight_decay=4e-5))
