"""``python -m taskflow``: the same command line as the ``taskflow`` script."""

from taskflow.cli import main

main()
