# A timm backbone converted by the same flag: timm's resnet50 (features only, no pooling).
_base_ = ['san_resnet50_imagenet.py']
model = dict(
    backbone=dict(_delete_=True, type='TIMMBackbone', model_name='resnet50', pretrained=False),
    san=dict(init='scratch'))
