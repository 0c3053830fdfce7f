import sys

from stviz_adapters.cli import main

sys.exit(main())
