"""`python -m agingset ...` is the `agingset` command."""

import sys

from .cli import main

sys.exit(main())
