"""Networks, training, evaluation and the shipped model zoo."""
