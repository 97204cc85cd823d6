"""`python -m tests.chaos --seed N --operations N --clients N --time-limit S` (`make chaos`)."""

import sys

from tests.chaos.harness import main

sys.exit(main())
