import sys

from flatenn.cli import main

sys.exit(main())
