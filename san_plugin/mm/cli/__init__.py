"""What the command-line tools in ``tools/`` share, and nothing else in the library uses.

==================  =================================================================
``config``          :func:`load_config`: a config read as MMPretrain's tools read it
                    (``--cfg-options``, ``--work-dir``, the data loaders' defaults)
``launch``          the arguments every tool shares with MMPretrain's (``--cfg-options``,
                    ``--launcher``, ``--local-rank``); torchrun and Slurm set-up, with gloo
                    where there is no GPU
``auto_resume``     :func:`apply_auto_resume`: a (re)started run resumes from its work
                    dir's newest checkpoint, if any
==================  =================================================================

It lives beside the SAN glue rather than in :mod:`san_plugin.mm.engine` (fixes to mmengine
that every Runner gets) because it is the tools' argument handling, not a fix; and inside
``san_plugin.mm`` because it needs mmengine (the ``[mm]`` extra), like the tools themselves.
The runner the tools build is :func:`san_plugin.mm.runner.build_runner`.

Example:
    >>> from san_plugin.mm.cli import load_config
    >>> cfg = load_config('configs/demo/san_resnet18_demo.py', {'train_cfg.max_epochs': 1})
"""
from .auto_resume import apply_auto_resume
from .config import load_config
from .launch import add_launch_args, init_launcher, parse_launch_args, setup_distributed

__all__ = ['add_launch_args', 'apply_auto_resume', 'init_launcher', 'load_config', 'parse_launch_args',
           'setup_distributed']
