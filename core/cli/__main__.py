"""``python -m ge2.cli``: the same as the ``ge2`` command."""

import sys

from . import main

sys.exit(main())
