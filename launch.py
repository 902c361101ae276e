"""Start the Cosmos Run Dashboard, the same as `cosmos dashboard`:
python launch.py [--config FILE] [--host H] [--port P] [--insecure]."""

import sys

from cosmos_core.cli.serve import main

if __name__ == "__main__":
    sys.exit(main())
