# Baseline ResNet-18 trained at 56 px alone (Table 1 left panel, row 56); tested at 56: resize to 64, crop 56.
_base_ = ['./_base_/baseline_resnet18_imagenette.py']
train_resolution = 56
