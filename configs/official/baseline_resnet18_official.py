# The paper's individually trained ResNet-18 baselines (Table 1, left), converted by
# tools/convert_official.py --arch resnet18 --baseline: timm's resnet18 (torchvision's keys), the official
# preprocessing. `train_resolution` is the size the baseline was trained at (the row label of a sweep, the
# train crop, the test crop): for the baseline trained at S add --cfg-options train_resolution=S.
_base_ = ['_base_/imagenet_official.py', '../_base_/schedules/imagenet_sgd_cosine_120e.py',
          '../_base_/default_runtime.py']
train_resolution = 224
model = dict(
    type='ImageClassifier',
    backbone=dict(type='TIMMBackbone', model_name='resnet18', pretrained=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)))
data_preprocessor = dict(_delete_=True, num_classes=1000, mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0],
                         to_rgb=True)
train_pipeline = [
    dict(type='SafeLoadImageFromFile', imdecode_backend='pillow'),
    dict(type='RandomResizedCrop', backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline={{_base_.test_pipeline}}))
val_evaluator = dict(_delete_=True, type='Accuracy', topk=(1, 5))
model_wrapper_cfg = dict(type='MMDistributedDataParallel')
