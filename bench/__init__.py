"""`make bench`: the server's hot paths under load, beside a bare Flask floor, in one run."""
