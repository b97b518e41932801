"""``python -m fteval``."""

import sys

from fteval.cli import main

sys.exit(main())
