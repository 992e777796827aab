"""The pins: which board this is, its header, and the gpiozero devices."""
