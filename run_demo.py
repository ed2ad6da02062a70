"""Run the clsd demo: a deep teacher's state distilled into a shallow student on digits.

    python run_demo.py              the main job, 3 seeds (about a minute)
    python run_demo.py --quick      a smaller run for CI
    python run_demo.py --synthetic  the single-vector demo
    python run_demo.py --help       every option
"""

import sys

from clsd.demo import main

if __name__ == "__main__":
    sys.exit(main())
