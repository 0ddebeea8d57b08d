"""Performance and accuracy benchmarks of san_plugin, importable as ``benchmarks.*``.

The scripts run from the repository root as before (``python benchmarks/perf.py``,
``python benchmarks/imagenette/run.py ...``): the editable install (``pip install -e .``, what
``make install`` does) maps this package, and ``benchmarks/gpu/check.sh`` puts the repository
root on ``PYTHONPATH`` where nothing is installed. ``python -m benchmarks.perf`` from the root
needs neither. No script edits ``sys.path``.
"""
