"""`facelens serve`: the REST API (`/api/v1`) and the web page (`/`), built by `facelens.server.app.create_app`."""
