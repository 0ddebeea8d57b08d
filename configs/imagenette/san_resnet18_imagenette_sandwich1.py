# The SAN trained on a sample of its resolutions: every step runs 64 and 32 px and one of 56/48/40
# drawn per iteration (the sandwich rule), about 61 % of the pixels of a step over all five.
_base_ = ['./_base_/san_resnet18_imagenette.py']
model = dict(san=dict(sampling=dict(type='sandwich', num_random=1)))
