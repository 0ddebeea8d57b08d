# ImageNet as the official SAN code (d-li14/SAN, utils/dataloaders.py, PyTorch loader) feeds it, for
# evaluating the released checkpoints. Read from that file: images decoded with PIL (ImageFolder),
# `ToTensor()` only (inputs in [0, 1], no mean/std); evaluation `Resize(int(S / 0.875))` (the short side,
# floored, PIL bilinear) then `CenterCrop(S)`; training views each resized from one random crop (bilinear).
# Not verifiable here: that file imports its transforms and ImageFolder from utils/transforms.py and
# utils/folder.py, which the stored copy of the repository lacks (assumed: torchvision's behaviour).
# No size is written here: MultiResolution, MultiResolutionTest and the single-size test crop take the
# training resolutions from the model's `san.resolutions` (a baseline: its `train_resolution`).
# The loaders, evaluators and dataset of configs/_base_/datasets/imagenet_san.py; the preprocessing below.
_base_ = ['../../_base_/datasets/imagenet_san.py']
# x / 255 on RGB: what ToTensor() gives (mmcv decodes BGR, to_rgb flips it).
data_preprocessor = dict(_delete_=True, type='SANDataPreprocessor', num_classes=1000, mean=[0.0, 0.0, 0.0],
                         std=[255.0, 255.0, 255.0], to_rgb=True)
# tools/test.py --resolution S and tools/eval_resolutions.py rebuild the test resize with these options.
eval_resize = dict(backend='pillow', interpolation='bilinear', rounding='floor')
# Every view resized from the crop with PIL bilinear, as the official code; one flip shared by all
# views here (the official code flips each view independently).
train_pipeline = [
    dict(type='SafeLoadImageFromFile', imdecode_backend='pillow'),
    dict(type='MultiResolution', interpolation='bilinear'),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='SafeLoadImageFromFile', imdecode_backend='pillow'),
    dict(type='MultiResolutionTest', interpolation='bilinear', rounding='floor'),
    dict(type='PackInputs'),
]
test_pipeline = [  # the largest training size S: ResizeEdge int(S / 0.875) (`eval_resize`), CenterCrop S
    dict(type='SafeLoadImageFromFile', imdecode_backend='pillow'),
    dict(type='ResizeEdge', edge='short', backend='pillow', interpolation='bilinear'),
    dict(type='CenterCrop'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
