"""``python -m ganaug`` (also what ``torchrun -m ganaug ...`` runs)."""

import sys

from .cli import main

sys.exit(main())
