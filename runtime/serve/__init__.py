"""`edgekit serve`: the HTTP server around the answer path (settings, routes, keys, limits,
metrics, hot swap), and the commands that install and check a site's server."""
