import sys

from crawler.cli import main

if __name__ == "__main__":  # the extraction worker (spawn) imports this module again
    sys.exit(main())
