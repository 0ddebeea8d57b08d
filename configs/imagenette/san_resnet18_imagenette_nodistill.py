# Ablation: the SAN without scale distillation (CE at every resolution only; paper Table 3 left).
_base_ = ['./_base_/san_resnet18_imagenette.py']
model = dict(head=dict(distill=None))
