"""Test support code: loopback servers, a throw-away SLURM cluster, constructed spectra."""
