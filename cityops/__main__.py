"""``python -m cityops`` runs the command line (as the ``cityops`` script does)."""

from cityops.cli import main

main()
