# Baseline for Table 1: a plain ResNet-50 trained at 192 px alone, same recipe as the SAN; tested at 192
# (resize to 219, crop 192).
_base_ = ['_base_/baseline_resnet50_imagenet.py']
train_resolution = 192
