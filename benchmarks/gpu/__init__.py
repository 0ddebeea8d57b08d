"""The GPU check (``check.sh``) and its measurements (``perf_cuda.py``)."""
