# The MobileNetV2 SAN with the normalised loss (loss_form='mean'): see san_resnet18_imagenette_mean.py.
_base_ = ['./san_mobilenetv2_imagenette.py']
model = dict(head=dict(loss_form='mean'))
