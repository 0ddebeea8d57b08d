# Baseline ResNet-18 trained at 64 px alone (Table 1 left panel, row 64); tested at 64: resize to 73, crop 64.
_base_ = ['./_base_/baseline_resnet18_imagenette.py']
train_resolution = 64
