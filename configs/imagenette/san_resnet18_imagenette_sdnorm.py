# Issue 18 candidate (c): the scale-distillation weight normalised as RS-Nets does, beta = 2 / (k + 1)
# (k = 5: the 10 KL pairs weigh as 3.3 CE terms instead of 10).
_base_ = ['./_base_/san_resnet18_imagenette.py']
model = dict(head=dict(distill=dict(type='ScaleDistillationLoss', mode='all_pairs', temperature=1.0,
                                    loss_weight=2 / 6)))
