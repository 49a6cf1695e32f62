"""sam_core: a PyTorch implementation of Segment Anything with the official API."""
