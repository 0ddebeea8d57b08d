# Ablation: shared convolutions (no meta learners), private BN per resolution, scale distillation
# kept: isolates what the generated kernels add over BN privatisation alone.
_base_ = ['./_base_/san_resnet18_imagenette.py']
model = dict(san=dict(convs='shared'))
