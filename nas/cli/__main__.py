"""``python -m nas.cli``: the `nas` command (torchrun launches it this way)."""

import sys

from nas.cli import main

sys.exit(main())
