"""``python -m rlm_core.cli``: the same as the ``rlm`` command."""

import sys

from rlm_core.cli import main

sys.exit(main())
