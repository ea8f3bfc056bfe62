"""`python -m hub.cli`: the hub command line without the console script."""

from hub.cli import main

main()
