# The paper's released MobileNetV2 SAN (d-li14/SAN), converted by tools/convert_official.py --arch mobilenetv2:
# timm's mobilenetv2_100, every convolution generated (the stem too), the classifier shared.
_base_ = ['_base_/imagenet_official.py', '../_base_/schedules/imagenet_sgd_cosine_150e_mobilenet.py',
          '../_base_/default_runtime.py', '../_base_/models/san_classifier.py']
model = dict(backbone=dict(type='TIMMBackbone', model_name='mobilenetv2_100', pretrained=False),
             head=dict(in_channels=1280))
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1_mean', rule='greater'))
