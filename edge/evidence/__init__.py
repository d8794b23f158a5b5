"""What proves a finding: snapshots and clips drawn, encoded and kept on disk under a size cap."""
