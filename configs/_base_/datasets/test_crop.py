# The standard single-size test crop: the short side resized to S / 0.875 (pillow, bicubic), then the
# centre S x S. No size is written: S, the largest training size, is filled in from the config's one
# statement of its training sizes (`model.san.resolutions` or `train_resolution`, docs/configs.md);
# tools/test.py --resolution T rewrites both steps for T.
test_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='ResizeEdge', edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop'),
    dict(type='PackInputs'),
]
