# Post-hoc variant (not in the paper): the SAN's loss divided by the number of training
# resolutions, alpha = beta = 1/5, so the shared kernels' gradient has a single model's scale
# (the summed loss of 5 CE + 10 KL terms is the suspect for the SAN's higher training loss at lr 0.1).
# Chosen from the training loss of the first run, never from validation accuracy.
_base_ = ['./_base_/san_resnet18_imagenette.py']
model = dict(head=dict(loss=dict(type='CrossEntropyLoss', loss_weight=0.2),
                       distill=dict(type='ScaleDistillationLoss', mode='all_pairs', temperature=1.0,
                                    loss_weight=0.2)))
