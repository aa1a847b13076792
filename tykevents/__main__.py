import sys

from tykevents.cli import main

sys.exit(main())
