# Baseline ResNet-18 trained at 32 px alone (Table 1 left panel, row 32); tested at 32: resize to 37, crop 32.
_base_ = ['./_base_/baseline_resnet18_imagenette.py']
train_resolution = 32
