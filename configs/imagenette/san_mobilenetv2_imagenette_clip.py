# Issue 24, a cheap cure of the summed loss's instability: the MobileNetV2 SAN with the gradient's
# total norm clipped at 20, about a single-resolution MobileNetV2's gradient norm at initialisation
# (18.8; the SAN's is 62: benchmarks/results/imagenette_loss_scale.json), so no step of the SAN is
# larger than a baseline's first steps.
_base_ = ['./san_mobilenetv2_imagenette.py']
optim_wrapper = dict(clip_grad=dict(max_norm=20.0, norm_type=2))
