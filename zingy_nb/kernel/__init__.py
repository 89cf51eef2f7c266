"""What runs inside a kernel: the extension loader, ``%zingy_apikey``, the panel,
history scrubbing and ``zingyConn``. The core it calls imports none of IPython."""
