"""The paper's released checkpoints (d-li14/SAN) in our SAN and plain timm models (needs timm, not OpenMMLab)."""
from .official import (ARCHS, BASELINE_ARCHS, OFFICIAL_RESOLUTIONS, baseline_from_official, from_official,
                       official_host, san_state_from_official)
from .official_file import OfficialCheckpointError, load_weights_only, official_state_dict

__all__ = ['ARCHS', 'BASELINE_ARCHS', 'OFFICIAL_RESOLUTIONS', 'OfficialCheckpointError', 'baseline_from_official',
           'from_official', 'load_weights_only', 'official_host', 'official_state_dict', 'san_state_from_official']
