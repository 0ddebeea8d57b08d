# Runtime shared by every san_plugin config. `custom_imports` registers the plugin, so
# MMPretrain's own tools/train.py and tools/test.py also run these configs.
default_scope = 'mmpretrain'
runner_type = 'SANRunner'  # mmengine's Runner, able to start distributed SAN training
custom_imports = dict(imports=['san_plugin.mm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    rng_state=dict(type='RandomStateHook'),  # epoch-based runs resume with the same augmentations
)
env_cfg = dict(
    cudnn_benchmark=True,  # five fixed input shapes per iteration: autotune each once (no effect on the CPU)
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # tools/train.py switches to gloo on a machine without a GPU
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
# One backward per resolution, gradients all-reduced once per iteration.
model_wrapper_cfg = dict(type='SANDistributedDataParallel')
