"""Local stand-ins for WeChat's and DingTalk's servers, speaking their documented protocols.

Tests (and a developer without credentials) start a StubServer and point the REAL SDK clients
at it through `platforms.redirect` (the production code's own redirection, driven by the
`*_API_BASE` settings): wechatpy's requests session and alibabacloud-dingtalk's `Config`.
Each platform feature adds its routes in its own module (devstubs/wechat.py, devstubs/dingtalk.py, …).
"""
