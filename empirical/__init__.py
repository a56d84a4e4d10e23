"""empirical: PyTorch training on CIFAR under label noise (issue 6); losses come from theory."""
