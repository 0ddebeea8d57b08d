# The SAN of Table 1 (right panel) on Imagenette: meta convolutions, private BN, scale distillation.
_base_ = ['./_base_/san_resnet18_imagenette.py']
