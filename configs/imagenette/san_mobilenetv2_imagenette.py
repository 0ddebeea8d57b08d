# MobileNetV2 SAN on Imagenette (issue 24): mmpretrain's MobileNetV2 at width 0.5 in the ResNet-18's
# place, every other setting of the ResNet-18 recipe, and the paper's MobileNetV2 weight decay (4e-5).
# lr 0.0125 per batch of 64 is the paper's MobileNetV2 rate (0.05 per 256).
_base_ = ['./san_resnet18_imagenette.py']
model = dict(backbone=dict(_delete_=True, type='MobileNetV2', widen_factor=0.5), head=dict(in_channels=1280))
optim_wrapper = dict(optimizer=dict(lr=0.0125, weight_decay=4e-5))
