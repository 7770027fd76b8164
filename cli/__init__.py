"""The `govault` command line (console script `govault`, or `python -m cli`): sign in, upload
and download whole files with progress bars, resume and parallel parts, and the files API.

It owns argument parsing (click), what is printed (output.py: data on stdout, notes/errors and
progress on stderr), where credentials, the server and resume state are kept (config.py), and
the exit statuses (app.py). Every request goes through the `client` library; it must not speak
HTTP itself nor import any server package.
"""
