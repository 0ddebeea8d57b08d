# Baseline for Table 1: a plain ResNet-50 trained at 128 px alone, same recipe as the SAN; tested at 128
# (resize to 146, crop 128).
_base_ = ['_base_/baseline_resnet50_imagenet.py']
train_resolution = 128
