# The paper's individually trained ResNet-50 baselines (Table 1, left), converted by
# tools/convert_official.py --arch resnet50 --baseline (see baseline_resnet18_official.py).
_base_ = ['baseline_resnet18_official.py']
model = dict(backbone=dict(model_name='resnet50'), head=dict(in_channels=2048))
