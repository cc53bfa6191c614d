"""The dataset stage: near-duplicate removal, then the training dataset with its card."""
