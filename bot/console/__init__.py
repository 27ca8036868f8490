"""The console: web pages for agents and supervisors, served by kefu's HTTP server under
/console/ and opened as a Telegram Mini App or through a one-time login link (issue 23).

The process floor: it may use every domain and the handlers' public helpers, as the chat
commands do, so a change made here is the same change as the command's. ``web.py`` wires it
(:func:`bot.console.web.build_console`), ``auth.py`` signs people in and guards every request,
``staff.py`` says who is signed in, ``audit.py`` records every change; each page is a module of
its own with its templates in ``templates/``.
"""
