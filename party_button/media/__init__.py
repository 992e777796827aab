"""Sound and pictures: the songs library (scanned off the loop), pygame audio and mpv clips."""
