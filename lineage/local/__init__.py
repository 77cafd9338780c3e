"""Local stand-ins for the Azure services the app talks to, so it runs end to end on one machine.

Nothing here is deployed or imported by the Function App: these are the project's own servers that follow the real
APIs' contracts (paths, bodies, status codes, errors), so that the product's real HTTP code runs against them.
"""
