"""``python -m party_button`` runs the ``party-button`` command."""

import sys

from party_button.cli.main import main

sys.exit(main())
