"""Table 1 on Imagenette: training, evaluation and reports (``run.py`` is the entry point)."""
