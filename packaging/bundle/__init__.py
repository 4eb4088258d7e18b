"""Bundles: a directory (and tar) with a manifest covering every file's size and sha256."""
