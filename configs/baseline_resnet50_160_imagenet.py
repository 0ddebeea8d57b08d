# Baseline for Table 1: a plain ResNet-50 trained at 160 px alone, same recipe as the SAN; tested at 160
# (resize to 183, crop 160).
_base_ = ['_base_/baseline_resnet50_imagenet.py']
train_resolution = 160
