"""A site's files: the verified bundle, its adapter store and import gate, its audit log."""
