"""What measures a SAN without being the method: plain PyTorch, toolbox-free like ``core``.

* ``loss_scale``: gradient norms per kind of parameter and the top Hessian eigenvalue of a loss;
* ``meta_report``: how much each generated kernel depends on the resolution;
* ``divergence``: the warning when a resolution's training loss leaves the chance level.
"""
