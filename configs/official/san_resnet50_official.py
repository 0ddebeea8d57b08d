# The paper's released ResNet-50 SAN (d-li14/SAN), converted by tools/convert_official.py --arch resnet50.
_base_ = ['san_resnet18_official.py']
model = dict(backbone=dict(model_name='resnet50'), head=dict(in_channels=2048))
