"""``python -m chaos`` is the ``chaoslab`` command."""

import sys

from chaos.cli import main

sys.exit(main())
