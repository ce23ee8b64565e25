"""Seoul Solution's policy-news board: the generic board spider with its bundled profile.

``scrapy crawl seoulsolution -a base_url=http://127.0.0.1:PORT`` from the repository root crawls the replica.
"""

from spiders.board import BoardSpider


class SeoulSolutionSpider(BoardSpider):
    name = "seoulsolution"
    profile_name = "seoulsolution"
