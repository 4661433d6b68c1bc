"""Everything that talks to a cluster; only :mod:`harness.live.cluster` imports kubernetes."""
