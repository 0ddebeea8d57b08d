# A SAN ResNet-50: the shared SAN classifier (san_classifier.py: resolutions, meta learners, head) on this backbone.
_base_ = ['./san_classifier.py']
model = dict(backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(3, ), style='pytorch'), head=dict(in_channels=2048))
