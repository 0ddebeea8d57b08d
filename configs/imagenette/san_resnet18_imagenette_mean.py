# Issue 24: the SAN with the normalised loss, loss_form='mean' (CE averaged over the 5 resolutions,
# distillation averaged over its 10 pairs): the shared parameters' gradient has a single model's scale
# at initialisation (benchmarks/results/loss_scale.md). The paper's summed loss is loss_form='sum'.
_base_ = ['./_base_/san_resnet18_imagenette.py']
model = dict(head=dict(loss_form='mean'))
