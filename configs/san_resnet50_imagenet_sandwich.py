# SAN resnet50 on ImageNet, the paper's recipe with a sampled step: every iteration runs 224 and 96 px
# and one of 192/160/128 drawn per iteration (the sandwich rule), about 62 % of the pixels of a step
# over all five. The BN statistics of every resolution can be re-estimated after training with
# tools/calibrate_bn.py (docs/training.md, "Training on a sample of the resolutions").
_base_ = ['./san_resnet50_imagenet.py']
model = dict(san=dict(sampling=dict(type='sandwich', num_random=1)))
