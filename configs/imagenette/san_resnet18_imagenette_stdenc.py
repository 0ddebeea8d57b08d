# Issue 18 candidate (d): the meta learners' input standardised over the training resolutions,
# u(S) = (S - 48) / 11.3 (-1.41..+1.41 at 32..64 px) instead of eps(S) = 0.1 * S / 32 (0.1..0.2).
# B is then the kernel at the mean resolution and W learns only what differs between resolutions,
# at B's pace.
_base_ = ['./_base_/san_resnet18_imagenette.py']
model = dict(san=dict(encoding='standardized'))
