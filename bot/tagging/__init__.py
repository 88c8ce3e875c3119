"""The trained category classifier: the model file the bot scores with, and its training."""
