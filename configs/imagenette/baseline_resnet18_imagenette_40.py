# Baseline ResNet-18 trained at 40 px alone (Table 1 left panel, row 40); tested at 40: resize to 46, crop 40.
_base_ = ['./_base_/baseline_resnet18_imagenette.py']
train_resolution = 40
