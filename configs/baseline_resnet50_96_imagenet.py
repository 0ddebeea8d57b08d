# Baseline for Table 1: a plain ResNet-50 trained at 96 px alone, same recipe as the SAN; tested at 96
# (resize to 110, crop 96).
_base_ = ['_base_/baseline_resnet50_imagenet.py']
train_resolution = 96
