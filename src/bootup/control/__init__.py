"""bootup.control: the manager's Varlink control socket, its server and its client.

Modules: :mod:`~bootup.control.protocol` (sans-IO framing and messages),
:mod:`~bootup.control.errors` (wire error names), :mod:`~bootup.control.interface` (the
published ``io.bootup.Manager`` description), :mod:`~bootup.control.methods` (the typed
method table and its handlers), :mod:`~bootup.control.access` (who may call what),
:mod:`~bootup.control.server` (asyncio, in the manager; ``serve(manager, path)``),
:mod:`~bootup.control.client` (blocking, for the CLI), :mod:`~bootup.control.address`
(which socket a client talks to) and :mod:`~bootup.control.render` (systemctl's text
layouts). Import them directly: this package re-exports nothing, so that
``import bootup.control.client`` stays cheap for the CLI.
"""

from __future__ import annotations
