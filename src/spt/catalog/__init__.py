"""The survey catalogue: targets cut into shards, one prediction job per shard, one FITS file."""
