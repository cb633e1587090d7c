"""`prodml demo`: the whole path on the real NYC 2013 flights."""
