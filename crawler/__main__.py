import sys

from crawler.cli import main

if __name__ == "__main__":  # importing this module (a tool, a test) must not start a crawl
    sys.exit(main())
