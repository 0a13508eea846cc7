"""What the commands show on a terminal: stage progress and the trace tree, both read from the spans."""
