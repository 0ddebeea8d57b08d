# The demo config (configs/demo/san_resnet18_demo.py) unchanged, plus a hook that records the AMP
# loss scale and the loss of every iteration (benchmarks/gpu/loss_scale_hook.py; the repository
# root must be importable, as benchmarks/gpu/check.sh sets it on PYTHONPATH or the editable install does).
_base_ = ['../../configs/demo/san_resnet18_demo.py']
custom_imports = dict(imports=['san_plugin.mm', 'benchmarks.gpu.loss_scale_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='LossScaleRecorderHook')]
