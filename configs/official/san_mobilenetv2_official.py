# The paper's released MobileNetV2 SAN (d-li14/SAN), converted by tools/convert_official.py --arch mobilenetv2:
# timm's mobilenetv2_100, every convolution generated (the stem too), the classifier shared.
_base_ = ['_base_/imagenet_official.py', '../_base_/schedules/imagenet_sgd_cosine_150e_mobilenet.py',
          '../_base_/default_runtime.py']
model = dict(
    type='SANClassifier',
    backbone=dict(type='TIMMBackbone', model_name='mobilenetv2_100', pretrained=False),
    san=dict(resolutions=[224, 192, 160, 128, 96], exclude=[], meta_hidden=None, init='scratch', mode='proxy'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='SANClsHead', num_classes=1000, in_channels=1280,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              distill=dict(type='ScaleDistillationLoss', mode='all_pairs', temperature=1.0, loss_weight=1.0),
              topk=(1, 5)))
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1_mean', rule='greater'))
