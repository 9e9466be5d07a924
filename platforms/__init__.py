"""Chat and mini-program platforms behind small Protocols (a real SDK implementation each).

Channels depend on the Protocols; tests point the real implementations at ``devstubs`` servers.
"""
