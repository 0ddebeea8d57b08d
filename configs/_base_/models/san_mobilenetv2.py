# A SAN MobileNetV2: the shared SAN classifier (san_classifier.py: resolutions, meta learners, head) on this backbone.
_base_ = ['./san_classifier.py']
model = dict(backbone=dict(type='MobileNetV2', widen_factor=1.0), head=dict(in_channels=1280))
