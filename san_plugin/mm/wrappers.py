"""SANDistributedDataParallel: mmengine's DDP wrapper running SANClassifier's train step."""
from __future__ import annotations

from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

from .engine.sync_bn import convert_cpu_sync_batchnorm


@MODEL_WRAPPERS.register_module()
class SANDistributedDataParallel(MMDistributedDataParallel):
    """DDP for SANs: one backward per resolution, gradients all-reduced once per update.

    mmengine's wrapper runs one forward and one backward per step; this one hands the
    step to the model's ``train_step`` with itself as the forward, so every resolution's
    forward goes through DDP and all but one run under ``no_sync()``: the last resolution
    of the iteration that ends an accumulation window (every iteration without
    ``accumulative_counts``) all-reduces the accumulated gradients.
    Per-resolution BN branches are unused at the other resolutions, hence
    ``find_unused_parameters=True`` by default.

    On the CPU (gloo) ``device_ids`` is dropped, and the ``nn.SyncBatchNorm`` layers that
    ``cfg.sync_bn = 'torch'`` creates (one per resolution branch) become
    :class:`~san_plugin.mm.engine.sync_bn.CPUSyncBatchNorm`, since torch's refuses CPU tensors.

    Example:
        >>> model_wrapper_cfg = dict(type='SANDistributedDataParallel')
    """

    def __init__(self, module, detect_anomalous_params: bool = False, **kwargs) -> None:
        kwargs.setdefault('find_unused_parameters', True)
        if all(p.device.type == 'cpu' for p in module.parameters()):
            # mmengine passes device_ids=[LOCAL_RANK]; CPU (gloo) DDP takes none.
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
            module = convert_cpu_sync_batchnorm(module)
        super().__init__(module=module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    def train_step(self, data, optim_wrapper):
        return self.module.train_step(data, optim_wrapper, forward=self)
