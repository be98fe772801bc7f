import sys

from catlas.cli import main

sys.exit(main())
