"""Authentication at the edge: server-side sessions and CSRF (``sessions``), registered DPI clients
(``clients``), the DPI launch (``launch``: browser JWT and server-to-server one-time URL), OAuth2 client
credentials with ``private_key_jwt`` (``oauth``)."""
