"""Everything that talks to a cluster; :mod:`harness.live.cluster` is the only kubernetes importer."""
