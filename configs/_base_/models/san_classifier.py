# What every SAN classifier config shares: the SAN (meta learners from scratch, proxy inference), global
# average pooling, and the SAN head (CE at every training resolution + distillation from larger to
# smaller ones). The model files add the backbone and the head's in_channels.
# The training resolutions are stated once, in `san.resolutions`: the head, the data preprocessor,
# the MultiResolution / MultiResolutionTest steps and the single-size test crop take them from there
# (docs/configs.md). Change them with `--cfg-options "model.san.resolutions=[160,128]"`.
model = dict(
    type='SANClassifier',
    san=dict(resolutions=[224, 192, 160, 128, 96], exclude=[], meta_hidden=None, init='scratch', mode='proxy'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='SANClsHead', num_classes=1000,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              distill=dict(type='ScaleDistillationLoss', mode='all_pairs', temperature=1.0, loss_weight=1.0),
              topk=(1, 5)))
