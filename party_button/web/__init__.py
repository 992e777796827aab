"""The web page and HTTP API: ``party-button web``, a service of its own.

It talks to the daemon only through the control socket, shares one ``watch`` connection
among all its browsers, and writes only into the songs folders. :mod:`.settings` (the
``web:`` section of the config) imports nothing outside the standard library and the config
reader, so that the daemon and ``check-config`` never load the web server.
"""
