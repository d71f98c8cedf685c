"""python -m gateway: the same as the onvif-gateway command."""

import sys

from gateway.cli import main

sys.exit(main())
