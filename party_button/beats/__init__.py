"""Beat grids: the file format, the analysis and the background worker."""
