"""`python -m modelwire.cli`, the same as `modelwire`."""

import sys

from modelwire.cli.entry import main

sys.exit(main())
