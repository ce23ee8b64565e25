"""A deterministic local replica of the Seoul Solution policy-news board (Drupal 7), served over real HTTP.

``ReplicaSite`` is the pure content (no network); ``ReplicaProcess`` runs ``python -m crawler.replica`` as a
child process for tests and the demo. See docs/replica.md.
"""

from crawler.replica.content import ReplicaPartner, ReplicaPost
from crawler.replica.process import ReplicaProcess
from crawler.replica.render import Page
from crawler.replica.site import ReplicaSite

__all__ = ["Page", "ReplicaPartner", "ReplicaPost", "ReplicaProcess", "ReplicaSite"]
