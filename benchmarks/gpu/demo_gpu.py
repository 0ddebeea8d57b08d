# The demo config (configs/demo/san_resnet18_demo.py) unchanged, plus a hook that records the AMP
# loss scale and the loss of every iteration (benchmarks/gpu/loss_scale_hook.py; benchmarks/gpu
# must be on PYTHONPATH, as benchmarks/gpu/check.sh sets it).
_base_ = ['../../configs/demo/san_resnet18_demo.py']
custom_imports = dict(imports=['san_plugin.mm', 'loss_scale_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='LossScaleRecorderHook')]
