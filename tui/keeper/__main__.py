import sys

from tui.keeper.server import main

sys.exit(main(sys.argv[1:]))
