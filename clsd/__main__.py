"""Run the clsd command line: ``python -m clsd COMMAND [OPTIONS]``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
