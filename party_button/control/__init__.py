"""The control socket: the daemon's server, the command-line client and the watch stream."""
