import sys

from cosmos_core.cli import main

sys.exit(main())
