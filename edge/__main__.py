"""``python -m edge`` is ``gridwatch-edge``."""

import sys

from edge.cli import main

sys.exit(main())
