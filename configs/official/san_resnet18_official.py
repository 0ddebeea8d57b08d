# The paper's released ResNet-18 SAN (d-li14/SAN), converted by tools/convert_official.py --arch resnet18:
# timm's resnet18 with the official layout (stem conv shared, stem BN private, every other conv generated),
# evaluated with the official preprocessing. Training from it follows the paper's ResNet recipe.
_base_ = ['_base_/imagenet_official.py', '../_base_/schedules/imagenet_sgd_cosine_120e.py',
          '../_base_/default_runtime.py']
model = dict(
    type='SANClassifier',
    backbone=dict(type='TIMMBackbone', model_name='resnet18', pretrained=False),
    san=dict(resolutions=[224, 192, 160, 128, 96], exclude=['timm_model.conv1'], meta_hidden=None, init='scratch',
             mode='proxy'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='SANClsHead', num_classes=1000, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              distill=dict(type='ScaleDistillationLoss', mode='all_pairs', temperature=1.0, loss_weight=1.0),
              topk=(1, 5)))
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1_mean', rule='greater'))
