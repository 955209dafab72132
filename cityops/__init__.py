"""The shell: the whole platform assembled from its packages — one web application, one command line.

Nothing below imports it; it is the only place that knows every part (``api`` and ``map_ui`` in
one app, every package's verbs under ``cityops``, the benchmarks among them).
"""
