# The paper's released ResNet-18 SAN (d-li14/SAN), converted by tools/convert_official.py --arch resnet18:
# timm's resnet18 with the official layout (stem conv shared, stem BN private, every other conv generated),
# evaluated with the official preprocessing. Training from it follows the paper's ResNet recipe.
_base_ = ['_base_/imagenet_official.py', '../_base_/schedules/imagenet_sgd_cosine_120e.py',
          '../_base_/default_runtime.py', '../_base_/models/san_classifier.py']
model = dict(backbone=dict(type='TIMMBackbone', model_name='resnet18', pretrained=False),
             san=dict(exclude=['timm_model.conv1']), head=dict(in_channels=512))
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1_mean', rule='greater'))
