"""sam-annotator: label image datasets for instance segmentation with Segment Anything."""

__version__ = "0.1.0"
