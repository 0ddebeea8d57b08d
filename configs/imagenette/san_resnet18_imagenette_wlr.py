# Issue 18 candidate (b): the meta learners' resolution slope W gets its own learning rate.
# kernel = eps * W + B, so W's gradient is eps times B's and eps * W moves eps^2 times as far as B
# per step (eps = 0.1..0.2 at 64..32 px). lr_mult = 1 / eps_ref^2 with eps_ref = eps(48) = 0.15 gives
# eps * W B's pace; decay_mult = eps_ref^2 keeps the weight decay of eps_ref * W equal to B's.
_base_ = ['./_base_/san_resnet18_imagenette.py']
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'meta.weight': dict(lr_mult=1 / 0.15**2, decay_mult=0.15**2)}))
