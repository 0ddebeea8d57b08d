# Baseline for Table 1: a plain ResNet-50 trained at 224 px alone, same recipe as the SAN; tested at 224
# (resize to 256, crop 224).
_base_ = ['_base_/baseline_resnet50_imagenet.py']
train_resolution = 224
