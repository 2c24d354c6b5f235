"""`python -m coursetools <command>`: see coursetools.cli."""
import sys

from .cli import main

sys.exit(main())
