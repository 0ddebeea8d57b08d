# Baseline MobileNetV2 (width 0.5) trained at 40 px alone (Table 1 left panel, MobileNetV2).
_base_ = ['./_base_/baseline_mobilenetv2_imagenette.py']
train_resolution = 40
