"""Per-image resolution: a confidence cascade over one SAN, by concept.

* :mod:`.rule`: the decision rule (smallest size first, only the undecided images move up) and
  what an image costs; the library and a deployment bundle run it.
* :mod:`.thresholds`: :class:`Cascade`, a rule with its GFLOPs and what it was fitted for, and its
  thresholds file; :mod:`.fingerprint`: which weights it was fitted for.
* :mod:`.probabilities`, :mod:`.fit`, :mod:`.cross_fitting`: fitting thresholds from every image's
  softmax at every size, and scoring a target on images the fit did not see.
* :mod:`.bundle`: the bundle format (``cascade.json``) written and read side by side, its
  version checked, and the bundle reader; :mod:`.export`: :func:`export_cascade` writes a bundle;
  :mod:`.standalone`: the bundle's ``cascade_runtime.py``, generated from the modules that run
  the cascade here; :mod:`.command_line`: its command line.

Toolbox-free (MMPretrain's glue is ``san_plugin.mm.cascade``). Resolution sweeps and costs are
:mod:`san_plugin.evaluation`, which this package uses and which does not use it.
"""
from .bundle import BundleError, CascadeBundle
from .cross_fitting import CrossFitResult, cross_fit
from .export import export_cascade
from .fingerprint import model_fingerprint, state_fingerprint
from .fit import OperatingPoint, cascade_frontier, fit_cascade
from .probabilities import collect_probabilities
from .rule import CascadeOutcome, run_cascade, simulate_cascade
from .thresholds import Cascade, CascadeMismatchError, single_size

__all__ = [
    'BundleError', 'Cascade', 'CascadeBundle', 'CascadeMismatchError', 'CascadeOutcome', 'CrossFitResult',
    'OperatingPoint', 'cascade_frontier', 'collect_probabilities', 'cross_fit', 'export_cascade', 'fit_cascade',
    'model_fingerprint', 'run_cascade', 'simulate_cascade', 'single_size', 'state_fingerprint',
]
