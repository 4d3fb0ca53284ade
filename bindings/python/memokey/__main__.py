"""``python -m memokey``: the ``memokey`` command (see memokey.cli)."""

import sys

from .cli import main

sys.exit(main())
