"""python -m bridge: the same as the `descent` command."""

import sys

from bridge.cli import main

sys.exit(main())
