"""Training data: documents -> chat examples by rules, replay mix, held-out eval splits."""
