"""The SQL the forces package runs, one module per module that runs it (``queries/dispatch.py`` for
``dispatch.py``): long statements read as SQL in one place, and the code around them reads as the
checks and decisions it is. Short one-line statements stay where they run.
"""
