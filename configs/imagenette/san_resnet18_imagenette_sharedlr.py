# Issue 18 candidate (a): the shared parameters (meta learners, FC) step at 1/k of the learning
# rate (k = 5 resolutions: their gradient is the sum of 5 resolutions' gradients); the private BN
# branches, each trained by one resolution, keep the full rate. mmengine's `custom_keys` match
# substrings of parameter names: `.meta.` (every MetaConv2d's meta learner) and `head.`.
_base_ = ['./_base_/san_resnet18_imagenette.py']
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.meta.': dict(lr_mult=0.2), 'head.': dict(lr_mult=0.2)}))
