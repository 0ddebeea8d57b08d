# Baseline ResNet-18 trained at 48 px alone (Table 1 left panel, row 48); tested at 48: resize to 55, crop 48.
_base_ = ['./_base_/baseline_resnet18_imagenette.py']
train_resolution = 48
