"""The PySide6 layer: views, tools, docks and workers. The only place Qt is imported."""
